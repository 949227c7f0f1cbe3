"""`inspect`: the live schema (and migration state), read without touching the planner,
the executor or the report: the one stage that runs on every deploy, so it imports only
what it uses."""
from __future__ import annotations

from pgreconcile.runbook.target import Target
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.model import fingerprint_of, gc_paused


def inspect_live(target: Target) -> dict:
    schema = inspect_schema(target.live, schemas=target.schemas,
                            exclude_schemas=target.exclude_schemas)
    with gc_paused():  # ~10^5 acyclic objects: see gc_paused
        model = schema.to_dict()  # once: the fingerprint is taken of the same dict
        result = {"database": target.live.dbname, "server_version": schema.server_version,
                  "fingerprint": fingerprint_of(model), "summary": schema.summary(),
                  "schema": model}
    if target.project is not None:
        from pgreconcile.django.project import migration_state
        result["migrations"] = migration_state(target.project, target.live).to_dict()
    return result
