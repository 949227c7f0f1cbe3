"""The runbook's Ansible packaging checked by its own tools: `molecule test` of the default
scenario (prepare, converge, idempotence, verify) against its own database on the session's
PostgreSQL server, and ansible-lint's production profile over every playbook and role, the
inventory and the molecule scenario.

Split out of tests/test_ansible_runbook.py (where both ran in the background beside the
playbook runs) so that the suite's workers share the two long modules: with `--dist loadfile`
a module runs on one worker, and the longest module bounds the suite's wall time. Neither
needs anything test_ansible_runbook.py builds.
"""
from __future__ import annotations

import re
import secrets
import subprocess

import pytest
from psycopg import sql

from pgreconcile.pg.scratch import drop_database

from .support import BIN, REPO, TEST_DB_PREFIX, query, tool_env

pytestmark = pytest.mark.slow

MIGRATION_0002 = "0002_phase6_dashboard_models"


def run(argv: list[str], env: dict[str, str], timeout: int = 600) -> tuple[int, str]:
    """A tool from the repository root; its exit code and its output (stdout and stderr)."""
    proc = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


@pytest.fixture
def molecule_db(server):
    """An empty database for the scenario (its prepare step builds the seed drift)."""
    name = f"{TEST_DB_PREFIX}molecule_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
    yield server.with_dbname(name)
    drop_database(server, name)


def test_molecule_default_scenario_converges_idempotently_and_verifies(molecule_db, tmp_path):
    env = tool_env(molecule_db, MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
                   ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    code, output = run([str(BIN / "molecule"), "test", "-s", "default"], env)
    assert code == 0, output[-6000:]
    for action in ("prepare", "converge", "idempotence", "verify"):
        assert re.search(rf"{action}\W+Executed: Successful", output), action
    assert (MIGRATION_0002,) in query(molecule_db, "SELECT name FROM django_migrations "
                                                   "WHERE app = 'treasury'")


def test_ansible_lint_production_profile_passes():
    """reconcile.yml, every playbook and role, the inventory and molecule/, in one run (the
    suite's only ansible-lint: it takes half a minute of CPU)."""
    code, output = run([str(BIN / "ansible-lint"), "--offline", "reconcile.yml", "playbooks",
                        "roles", "inventory", "molecule"], tool_env(None))
    assert code == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output
