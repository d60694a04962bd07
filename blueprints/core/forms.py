"""Form pieces shared by every blueprint."""

from __future__ import annotations

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """Carries only the CSRF token: for buttons that POST (log out, approve, revoke)."""
