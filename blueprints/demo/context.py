"""What one demo step hands to the next."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime

DEMO_PASSWORD = "qingyi2026"  # noqa: S105 - the published password of the demo accounts


@dataclass
class Login:
    role: str
    name: str
    phone: str
    note: str = ""


@dataclass
class DemoContext:
    """Shared state of one seeding run.

    `data` holds ids the later steps build on, e.g. data["org_ids"], data["volunteer_ids"],
    data["leader_ids"]; each step documents the keys it adds.
    """

    scale: str
    seed: int
    today: date
    now: datetime
    rng: random.Random
    password_hash: str
    logins: list[Login] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def city(self) -> bool:
        return self.scale == "city"

    def login(self, role: str, name: str, phone: str, note: str = "") -> None:
        self.logins.append(Login(role, name, phone, note))
