"""Print the op.execute() block for the invariant DDL registered by the models.

Used when writing a revision that adds or changes a trigger or exclusion constraint:
    flask --app app shell -c 'exec(open("migrations/invariants.py").read())'
or  python migrations/invariants.py
The printed block is pasted into the revision, so each revision keeps its own literal SQL.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("SECRET_KEY", "print-invariants")

from app import create_app  # noqa: E402
from blueprints.core.models import INVARIANT_DDL  # noqa: E402

create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
print("    bind = op.get_bind()")
for dialect in ("sqlite", "postgresql"):
    print(f'    if bind.dialect.name == "{dialect}":')
    for name, ddl in INVARIANT_DDL.items():
        print(f"        # {name}")
        for stmt in ddl[dialect]:
            print(f"        op.execute({stmt!r})")
