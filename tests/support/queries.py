"""Count SQL statements, for query budgets (no N+1)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{i + 1}. {s[:300]}" for i, s in enumerate(self.statements))


@contextlib.contextmanager
def count_statements(engine) -> Iterator[StatementLog]:  # noqa: ANN001
    """Record every statement `engine` executes inside the block (BEGIN/COMMIT and PRAGMAs excluded)."""
    log = StatementLog()

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if head not in ("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
