"""Typed errors: each carries an exit code and a hint a person can act on.

They are raised once, deep in the engine, and rendered by a face (CLI, Ansible
module, PowerShell via the CLI's JSON).
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_REFUSED = 4
EXIT_PAUSED = 5  # stopped at the window's end; the next run resumes (not a failure)


class ReconcileError(Exception):
    """Base class. `hint` says what to do next; `exit_code` is the CLI's (docs/cli.md)."""

    exit_code = EXIT_ERROR
    hint = ""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict:
        return {"error": self.kind, "message": str(self), "hint": self.hint,
                "exit_code": self.exit_code}


class UsageError(ReconcileError):
    exit_code = EXIT_USAGE


class ConnectionFailed(ReconcileError):
    hint = ("check --dsn / DATABASE_URL / PG* variables, that the server is running, "
            "and that ~/.pgpass or PGPASSWORD holds the password")


class ToolchainError(ReconcileError):
    hint = ("point --pg-bin-dir at a PostgreSQL bin directory whose pg_dump is at least "
            "the server's major version (or install the matching postgresql-client)")


class BackupFailed(ReconcileError):
    hint = "nothing was kept; read the pg_dump message above, fix it and run backup again"


class BackupUnverified(ReconcileError):
    hint = "do not rely on this backup; take a fresh one with `pgreconcile backup`"


class InsufficientSpace(ReconcileError):
    hint = "free space in --out-dir or choose another directory"


class RestoreRefused(ReconcileError):
    exit_code = EXIT_REFUSED
    hint = ("choose a new --target-db, or pass --replace to overwrite it "
            "(a backup of it is taken first)")


class ProjectError(ReconcileError):
    hint = "check --project-dir, --settings and --python point at the Django project"


class MigrationPreflightFailed(ReconcileError):
    hint = "run `pgreconcile plan` to see the change that makes these migrations apply"


class Refused(ReconcileError):
    exit_code = EXIT_REFUSED


class DestructiveStepRefused(Refused):
    hint = "review the plan; re-run with --allow-destructive only after a verified backup"


class LockNotAcquired(Refused):
    hint = "another session holds the lock; wait for it to finish or find it in pg_stat_activity"


class OutsideMaintenanceWindow(Refused):
    hint = "run inside the maintenance window, or change reconcile_maintenance_window"


class PlanOutdated(Refused):
    hint = "the live schema changed since the plan was made; run `pgreconcile plan` again"


class RehearsalMissing(Refused):
    """A run that requires a rehearsal (production) found no promotion record for the same
    migrations and plan shape, younger than the max age. Nothing was changed."""

    hint = ("run the same change on staging first, or override with a reason "
            "(--override-rehearsal REASON)")


class PlanTampered(Refused):
    """The plan's id is not the digest of its content: the file was edited after
    `pgreconcile plan` wrote it (or damaged). Nothing was changed."""

    hint = "make the plan again with `pgreconcile plan --out`, and apply that file unedited"


class StepFailed(ReconcileError):
    hint = ("the ledger marks the step failed; a DDL step runs in one transaction, so none of "
            "it was applied; fix the cause and run apply again (finished steps are skipped)")


class VerificationFailed(ReconcileError):
    exit_code = EXIT_DRIFT
    hint = "see the report; roll back with `pgreconcile restore` or the plan's reverse steps"



class Paused(ReconcileError):
    """Stopped at the maintenance window's end (or before a step that could not finish in
    it): nothing is wrong and nothing is rolled back; the next run resumes from the ledger.
    `detail` says where it stopped (step, progress, estimate)."""

    exit_code = EXIT_PAUSED
    hint = "stopped at the window's end; the next run resumes"

    def __init__(self, message: str, *, hint: str | None = None, detail: dict | None = None):
        super().__init__(message, hint=hint)
        self.detail = dict(detail or {})

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.detail:
            d["paused"] = self.detail
        return d


class UnexpectedWrite(ReconcileError):
    """pgreconcile's own transaction wrote rows it must not (found by the own-writes audit
    before commit): the transaction was rolled back."""

    exit_code = EXIT_DRIFT
    hint = ("the transaction was rolled back and the ledger marks the step failed with the "
            "writes it saw; look for triggers or rules on the table, then apply again")


class BackfillPaused(Paused):
    """A backfill stopped between batches at the window's end; its progress is in the
    ledger and the next run resumes from its last key."""

    hint = "the maintenance window ends; the next run resumes from the ledger"


class RollbackRefused(Refused):
    """A rollback that would destroy data written since the change, or that cannot complete:
    refused before its first statement, so nothing was reverted."""

    hint = ("nothing was reverted; `--rollback restore` (Ansible: method=restore) restores the "
            "run's backup into a new database beside live instead, or re-run with "
            "--allow-destructive once the data named above may be dropped")
