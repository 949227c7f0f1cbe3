"""Undo the finished steps of a plan with their reverse SQL, newest first."""
from __future__ import annotations

from pgreconcile.apply import ledger
from pgreconcile.apply.lock import reconcile_lock
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.steps import Plan
from pgreconcile.progress import NULL, Reporter


def revert_plan(spec: ConnectionSpec, plan: Plan, reporter: Reporter = NULL,
                run_id: str | None = None) -> list[str]:
    """Ids of the steps reverted; each is marked `reverted` in the ledger."""
    with spec.connect(autocommit=True) as conn:
        if not ledger.exists(conn):
            return []  # nothing was ever applied here
        # The same lock as apply: never revert steps another run is applying right now.
        with reconcile_lock(conn, spec.dbname, "roll back", run_id):
            reverted = []
            started = ledger.started(conn, plan.id)
            for step in reversed(plan.steps):
                if step.id not in started or not step.reverse:
                    continue
                reporter.info(f"reverting {step.id}: {step.title}")
                for statement in step.reverse:
                    conn.execute(statement)
                ledger.mark_reverted(conn, plan.id, step.id)
                reverted.append(step.id)
            return reverted
