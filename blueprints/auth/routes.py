"""Log in, log out, register, profile, change password."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from blueprints.core.authz import safe_next
from blueprints.core.extensions import db, limiter
from blueprints.core.forms import EmptyForm
from blueprints.core.htmx import render_page
from blueprints.core.translate import gettext as _
from blueprints.core.translate import lazy_gettext as _l
from blueprints.orgs.models import Org
from blueprints.orgs.services import org_picker_context

from . import bp
from .forms import LoginForm, PasswordForm, ProfileForm, RegisterForm, normalise_phone
from .services import PhoneTaken, authenticate, change_password, register_user

TOO_MANY = _l("Too many sign-in attempts. Wait a few minutes, then try again.")


def _phone_key() -> str:
    return "login-phone:" + (normalise_phone(request.form.get("phone", "")) or "")


def _login_failed(response) -> bool:
    return response.status_code != 303


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_PER_IP"], methods=["POST"], error_message=lambda: str(TOO_MANY)
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_PER_PHONE"],
    key_func=_phone_key,
    methods=["POST"],
    deduct_when=_login_failed,
    error_message=lambda: str(TOO_MANY),
    scope="login-phone",
)
def login():
    """Sign in with mobile number and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), url_for("core.index")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = authenticate(form.phone.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            session.pop("locale", None) if user.locale else None
            db.session.commit()
            return redirect(safe_next(form.next.data, url_for("core.index")), 303)
        form.password.errors.append(_("That mobile number and password do not match an account."))
    status = 422 if request.method == "POST" else 200
    return render_page("auth/login.html", "form", status=status, form=form)


@bp.post("/logout")
def logout():
    """Sign out (a POST with a CSRF token, so no link can sign someone out)."""
    form = EmptyForm()
    if form.validate_on_submit():
        logout_user()
        flash(_("You are signed out."), "success")
    return redirect(url_for("core.index"), 303)


def _org_picker(form) -> dict:
    """Matches for the org search box, and the org currently chosen."""
    selected = db.session.get(Org, form.home_org.data) if isinstance(form.home_org.data, int) else None
    return org_picker_context(form.org_query.data, selected)


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create a volunteer account; the home org is found with a search box (htmx or a plain submit)."""
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = RegisterForm()
    status = 200
    if request.method == "POST" and request.form.get("action") == "search_org":
        form.validate()  # fill data; errors are not shown while the user is still searching
        for field in form:
            field.errors = []
    elif form.validate_on_submit():
        org = db.session.get(Org, form.home_org.data)
        if org is None:
            form.home_org.errors.append(_("Choose an organisation from the search results."))
        else:
            try:
                user = register_user(form.name.data, form.phone.data, form.password.data, org.id, session.get("locale"))
            except PhoneTaken:
                form.phone.errors.append(_("This mobile number is already registered. Log in instead."))
            else:
                db.session.commit()
                login_user(user)
                flash(_("Welcome to Qingyi, %(name)s!", name=user.name), "success")
                return redirect(url_for("core.index"), 303)
        status = 422
    elif request.method == "POST":
        status = 422
    return render_page("auth/register.html", "form", status=status, form=form, **_org_picker(form))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Name, email and home organisation; links to password and calendar feeds."""
    form = ProfileForm(
        data={"name": current_user.name, "email": current_user.email, "home_org": current_user.home_org_id}
    )
    status = 200
    if request.method == "POST" and request.form.get("action") == "search_org":
        form.validate()
        for field in form:
            field.errors = []
    elif form.validate_on_submit():
        org = db.session.get(Org, form.home_org.data)
        if org is None:
            form.home_org.errors.append(_("Choose an organisation from the search results."))
            status = 422
        else:
            current_user.name = form.name.data
            current_user.email = form.email.data or None
            current_user.home_org_id = org.id
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("auth.profile"), 303)
    elif request.method == "POST":
        status = 422
    return render_page("auth/profile.html", "form", status=status, form=form, **_org_picker(form))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change password; the current one is asked first."""
    form = PasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append(_("That is not your current password."))
        else:
            change_password(current_user, form.password.data)
            db.session.commit()
            flash(_("Your password is changed."), "success")
            return redirect(url_for("auth.profile"), 303)
    status = 422 if request.method == "POST" else 200
    return render_page("auth/password.html", "form", status=status, form=form)
