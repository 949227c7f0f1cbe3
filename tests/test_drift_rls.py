"""Row-level security drift end to end: the table flags (ENABLE / FORCE ROW LEVEL SECURITY)
and policies. Each case is a pair of SQL scripts, live and expected, on the same tables
with rows: plan + apply converge (only kept extras stay), a rerun changes nothing, every
row is kept. A pg_dump/pg_restore copy of a schema with policies diffs empty, and a
reference schema cached by an older model version is built again, not read."""
from __future__ import annotations

import json

import pytest

from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import MODEL_VERSION

from .support import EXAMPLE, as_json, cli, query, restore_copy, run_sql

TABLES = """
CREATE SCHEMA vault;
CREATE TABLE note (id int PRIMARY KEY, owner text NOT NULL, tenant int NOT NULL, body text);
CREATE TABLE vault."Secret Box" (id int PRIMARY KEY, "Tenant" int NOT NULL, label text);
CREATE FUNCTION public.tenant_ok(t int) RETURNS boolean LANGUAGE sql STABLE
    AS 'SELECT t > 0';
"""
ROWS = """
INSERT INTO note SELECT g, 'u' || (g % 5), g % 3, 'b' || g FROM generate_series(1, 300) g;
INSERT INTO vault."Secret Box" SELECT g, g % 4, 'l' || g FROM generate_series(1, 120) g;
"""
OWNER_POLICY = "CREATE POLICY note_owner ON note USING (owner = current_user);"
ENABLE = "ALTER TABLE note ENABLE ROW LEVEL SECURITY;"

# name: (live, expected), each run after TABLES.
CASES = {
    "rls switched off live": (OWNER_POLICY, OWNER_POLICY + ENABLE),
    "rls on live, off in the reference": (OWNER_POLICY + ENABLE, OWNER_POLICY),
    "rls not forced live": (ENABLE, ENABLE + "ALTER TABLE note FORCE ROW LEVEL SECURITY;"),
    "rls forced live, not in the reference": (
        ENABLE + "ALTER TABLE note FORCE ROW LEVEL SECURITY;", ENABLE),
    "rls off and its policy missing": ("", OWNER_POLICY + ENABLE),
    "restrictive update policy with check missing": (
        ENABLE, ENABLE + "CREATE POLICY note_tenant ON note AS RESTRICTIVE FOR UPDATE "
                         "TO pg_read_all_stats, pg_monitor USING (tenant > 0) "
                         "WITH CHECK (tenant < 10);"),
    "policy with another USING expression": (
        ENABLE + OWNER_POLICY,
        ENABLE + "CREATE POLICY note_owner ON note USING (owner = session_user);"),
    "policy with another command": (
        ENABLE + OWNER_POLICY,
        ENABLE + "CREATE POLICY note_owner ON note FOR SELECT USING (owner = current_user);"),
    "policy for other roles": (
        ENABLE + OWNER_POLICY,
        ENABLE + "CREATE POLICY note_owner ON note TO pg_monitor USING (owner = current_user);"),
    "policy calling a function of schema public": (
        ENABLE + "CREATE POLICY note_tenant ON note USING (public.tenant_ok(tenant));",
        ENABLE + "CREATE POLICY note_tenant ON note USING (public.tenant_ok(tenant - 1)) "
                 "WITH CHECK (public.tenant_ok(tenant));"),
    "quoted names in another schema": (
        "",
        'ALTER TABLE vault."Secret Box" ENABLE ROW LEVEL SECURITY;'
        'ALTER TABLE vault."Secret Box" FORCE ROW LEVEL SECURITY;'
        'CREATE POLICY "Tenant\'s ""own"" rows" ON vault."Secret Box" FOR INSERT '
        'WITH CHECK ("Tenant" >= 0);'),
}


def _reference(tmp_path, expected: str):
    ref = tmp_path / "expected.sql"
    ref.write_text(TABLES + expected + "\n")
    return ref


def _counts(db) -> list[tuple]:
    return query(db, 'SELECT (SELECT count(*) FROM note), '
                     '(SELECT count(*) FROM vault."Secret Box")')


@pytest.mark.parametrize("case", sorted(CASES))
def test_rls_drift_converges_and_keeps_rows(case, db, tmp_path):
    live, expected = CASES[case]
    run_sql(db, TABLES + ROWS + live)
    ref = _reference(tmp_path, expected)
    before = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert before.returncode == 3, f"{case}: the drift was not seen"
    assert {c["kind"] for c in as_json(before)["changes"]} <= {"rls", "policy"}
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert plan["unsupported"] == [] and plan["destructive"] == []
    assert plan["steps"], case
    for step in plan["steps"]:
        assert step["lock"] == "ACCESS EXCLUSIVE" and step["lock_duration"] == "instant"
        assert step["probe"] and step["reverse"] and step["kind"] == "ddl"
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = cli("diff", "--reference-sql", str(ref), "--json", spec=db)
    assert after.returncode == 0, [c["object"] for c in as_json(after)["changes"]]
    assert _counts(db) == [(300, 120)]
    again = as_json(cli("apply", str(plan_path), "--no-backup", "--json", spec=db))
    assert again["changed"] is False
    replanned = as_json(cli("plan", "--reference-sql", str(ref), "--json", spec=db))
    assert replanned["steps"] == []


def test_policy_only_live_has_is_kept_and_reported(db, tmp_path):
    extra = "CREATE POLICY note_all ON note FOR SELECT TO PUBLIC USING (true);"
    run_sql(db, TABLES + ROWS + ENABLE + OWNER_POLICY + extra)
    ref = _reference(tmp_path, "ALTER TABLE note ENABLE ROW LEVEL SECURITY;"
                               "CREATE POLICY note_owner ON note USING (owner = session_user);")
    plan_path = tmp_path / "plan.json"
    plan = as_json(cli("plan", "--reference-sql", str(ref), "--out", str(plan_path), "--json",
                       spec=db))
    assert [k["object"] for k in plan["kept"]] == ["public.note.note_all"]
    assert [s["target"]["name"] for s in plan["steps"]] == ["note_owner"]
    applied = cli("apply", str(plan_path), "--no-backup", "--json", spec=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = as_json(cli("diff", "--reference-sql", str(ref), "--json", spec=db))
    assert [(c["bucket"], c["kind"], c["object"]) for c in after["changes"]] == [
        ("extra", "policy", "public.note.note_all")]
    assert query(db, "SELECT count(*) FROM pg_policy WHERE polname = 'note_all'") == [(1,)]
    assert _counts(db) == [(300, 120)]
    assert as_json(cli("apply", str(plan_path), "--no-backup", "--json",
                       spec=db))["changed"] is False


def test_dump_restore_copy_of_policies_diffs_empty(make_db, server_major, tmp_path):
    original = make_db("rls_orig")
    run_sql(original, TABLES + ROWS + ENABLE + OWNER_POLICY + """
        ALTER TABLE note FORCE ROW LEVEL SECURITY;
        CREATE POLICY note_tenant ON note AS RESTRICTIVE FOR UPDATE
            TO pg_read_all_stats, pg_monitor
            USING (public.tenant_ok(tenant) AND body IS NOT NULL)
            WITH CHECK (tenant = ANY (ARRAY[1, 2]) AND owner ~~ 'u%');
        CREATE POLICY note_insert ON note FOR INSERT WITH CHECK (owner = current_user);
        ALTER TABLE vault."Secret Box" ENABLE ROW LEVEL SECURITY;
        CREATE POLICY "Tenant's rows" ON vault."Secret Box" FOR DELETE
            USING ("Tenant" = (SELECT max(tenant) FROM public.note));
        ALTER TABLE vault."Secret Box" NO FORCE ROW LEVEL SECURITY;
    """)
    restored = make_db("rls_copy")
    restore_copy(original, restored, server_major, tmp_path / "rls.dump")
    live, copy = inspect_schema(original), inspect_schema(restored)
    note = live.table("public.note")
    assert (note.rls_enabled, note.rls_forced) == (True, True)
    assert [p.name for p in note.policies] == ["note_insert", "note_owner", "note_tenant"]
    tenant = note.policies[2]
    assert (tenant.command, tenant.permissive, tenant.roles) == (
        "UPDATE", False, ("pg_monitor", "pg_read_all_stats"))
    assert "public.tenant_ok(tenant)" in tenant.using  # qualified: read with pg_catalog only
    diff = diff_schemas(copy, live)
    assert diff.changes == (), [c.to_dict() for c in diff.changes]
    assert copy.fingerprint() == live.fingerprint()


def test_reference_cached_by_an_older_model_is_built_again(drifted, tmp_path):
    """A cached schema without the RLS fields would read as "no RLS anywhere": it is not
    read but built again (Schema.from_dict refuses the old model version)."""
    cache = tmp_path / "cache"
    env = {"PGRECONCILE_CACHE_DIR": str(cache)}
    first = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted,
                        extra_env=env))
    (entry,) = (cache / "reference").glob("*.json")
    old = json.loads(entry.read_text())
    assert old["model_version"] == MODEL_VERSION
    old["model_version"] = 1
    for table in old["tables"]:
        for key in ("rls_enabled", "rls_forced", "policies"):
            table.pop(key)
    # Something an old entry would make visible if it were read: a table only it has.
    old["tables"].append({**old["tables"][0], "name": "only_in_the_old_cache"})
    entry.write_text(json.dumps(old))
    second = as_json(cli("diff", "--json", "--project-dir", str(EXAMPLE), spec=drifted,
                         extra_env=env))
    assert second["changes"] == first["changes"]
    assert json.loads(entry.read_text())["model_version"] == MODEL_VERSION
