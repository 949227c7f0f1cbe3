"""What a stage works on: the live database and the reference it is compared with."""
from __future__ import annotations

from dataclasses import dataclass

from pgreconcile.django.project import DjangoProject
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.runbook.reference import ReferenceSource


@dataclass(frozen=True)
class Target:
    """What to work on: the live database, and what it should look like."""

    live: ConnectionSpec
    reference: ReferenceSource | None = None
    scratch: ConnectionSpec | None = None
    schemas: tuple[str, ...] | None = None
    exclude_schemas: tuple[str, ...] | None = None
    pg_bin_dir: str | None = None

    @property
    def project(self) -> DjangoProject | None:
        return self.reference.project if self.reference and self.reference.kind == "django" \
            else None
