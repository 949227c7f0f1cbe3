"""The drift corpus (tests/corpus/cases/*.sql): loader and the procedure one case goes through.

A case is a pair of schemas written by hand, live and expected, plus rows for live. The
procedure (run_case) proves on a real server, in-process (no CLI), what issue 12 asks of
every drift: plan + apply converge (the diff is empty, or holds only the drift the case
says stays kept), applying again changes nothing and planning again makes no step, every
pre-existing row is kept (count and a content checksum per table), and a pg_dump /
pg_restore copy of the converged database diffs empty against it. A case marked
`-- unsupported:` must instead be refused with a reason, nothing changed.

tests/corpus/README.md documents the file format.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgreconcile.apply.executor import Executor
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.refusals import refuse_unsupported
from pgreconcile.errors import DestructiveStepRefused, Refused
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database
from pgreconcile.plan.planner import make_plan
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import Change, diff_schemas

from .support import TEST_DB_PREFIX, restore_copy

CASES_DIR = Path(__file__).resolve().parent / "corpus" / "cases"
SECTIONS = ("live", "expected", "rows")
#: Directives a case's header may hold (`-- name: value`, or a bare `-- name`).
DIRECTIVES = ("kinds", "expect-kept", "allow-destructive", "needs", "min-server",
              "unsupported", "pk-strategy", "note")
#: What the corpus as a whole must cover (`-- kinds:` of its cases; issue 12's list).
REQUIRED_KINDS = frozenset({
    "schema", "table", "partition", "inheritance", "unlogged", "column", "type", "identity",
    "generated", "collation", "composite-type", "default", "not-null", "constraint",
    "foreign-key", "check", "unique", "primary-key", "not-valid", "index", "partial-index",
    "expression-index", "sequence", "sequence-behind", "view", "materialized-view", "function",
    "procedure", "overload", "trigger", "rls", "policy", "enum", "domain", "extension",
    "comment", "privilege", "extra", "combination", "quoted-identifiers", "unsupported"})
_NAME = re.compile(r"^(?P<number>\d{3})_(?P<slug>[a-z0-9_]+)\.sql$")
_DIRECTIVE = re.compile(r"^--\s*(?P<name>[a-z-]+)\s*(?::\s*(?P<value>.*?))?\s*$")
#: `{role:NAME}` in a case's SQL: a role made for the case (unique name, dropped after).
_ROLE = re.compile(r"\{role:(?P<name>[a-z0-9_]+)\}")


@dataclass(frozen=True)
class Case:
    path: Path
    number: int
    slug: str
    kinds: tuple[str, ...]
    live: str
    expected: str
    rows: str = ""
    expect_kept: tuple[tuple[str, str, str], ...] = ()   # (bucket, kind, object)
    allow_destructive: bool = False
    needs: tuple[tuple[str, str], ...] = ()               # (what, name)
    min_server: int | None = None
    unsupported: tuple[tuple[str, str], ...] = ()        # (kind, object)
    pk_strategy: str = "keep"                             # make_plan's strategy
    notes: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.path.stem

    @property
    def roles(self) -> tuple[str, ...]:
        text = self.live + self.expected + self.rows
        return tuple(sorted({m["name"] for m in _ROLE.finditer(text)}))


class CaseFormatError(ValueError):
    pass


def parse_case(path: Path) -> Case:
    m = _NAME.match(path.name)
    if not m:
        raise CaseFormatError(f"{path.name}: a case is named NNN_short_name.sql")
    header: list[tuple[str, str]] = []
    bodies: dict[str, list[str]] = {}
    current: str | None = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        section = re.fullmatch(r"--\s*(live|expected|rows)\s*", stripped)
        if section:
            current = section[1]
            if current in bodies:
                raise CaseFormatError(f"{path.name}:{lineno}: section {current} given twice")
            bodies[current] = []
            continue
        if current is None:
            if not stripped:
                continue
            d = _DIRECTIVE.match(stripped)
            if not d or d["name"] not in DIRECTIVES:
                raise CaseFormatError(f"{path.name}:{lineno}: before `-- live` only directives "
                                      f"({', '.join(DIRECTIVES)}) may come, not {stripped!r}")
            header.append((d["name"], d["value"] or ""))
            continue
        bodies[current].append(line)
    for required in ("live", "expected"):
        if required not in bodies:
            raise CaseFormatError(f"{path.name}: no `-- {required}` section")
    kinds: list[str] = []
    kept: list[tuple[str, str, str]] = []
    needs: list[tuple[str, str]] = []
    unsupported: list[tuple[str, str]] = []
    notes: list[str] = []
    allow = False
    min_server = None
    pk_strategy = "keep"
    for name, value in header:
        if name == "kinds":
            kinds += [k.strip() for k in value.split(",") if k.strip()]
        elif name == "expect-kept":
            parts = value.split(None, 2)
            if len(parts) != 3 or parts[0] not in ("missing", "extra", "different"):
                raise CaseFormatError(f"{path.name}: expect-kept is `BUCKET KIND OBJECT`, "
                                      f"not {value!r}")
            kept.append((parts[0], parts[1], parts[2]))
        elif name == "allow-destructive":
            allow = True
        elif name == "needs":
            what, _, item = value.partition(" ")
            if what not in ("extension", "extension-versions", "icu"):
                raise CaseFormatError(f"{path.name}: needs `extension NAME`, "
                                      f"`extension-versions NAME` or `icu`, not {value!r}")
            needs.append((what, item.strip()))
        elif name == "min-server":
            min_server = int(value)
        elif name == "unsupported":
            kind, _, obj = value.partition(" ")
            if not kind or not obj:
                raise CaseFormatError(f"{path.name}: unsupported is `KIND OBJECT`, "
                                      f"not {value!r}")
            unsupported.append((kind, obj.strip()))
        elif name == "pk-strategy":
            if value not in ("keep", "swap"):
                raise CaseFormatError(f"{path.name}: pk-strategy is keep or swap, not {value!r}")
            pk_strategy = value
        elif name == "note":
            notes.append(value)
    if not kinds:
        raise CaseFormatError(f"{path.name}: say what the case covers with `-- kinds: …`")
    return Case(path, int(m["number"]), m["slug"], tuple(kinds),
                "\n".join(bodies["live"]).strip(), "\n".join(bodies["expected"]).strip(),
                "\n".join(bodies.get("rows", [])).strip(), tuple(kept), allow, tuple(needs),
                min_server, tuple(unsupported), pk_strategy, tuple(notes))


def load_cases() -> list[Case]:
    return [parse_case(p) for p in sorted(CASES_DIR.glob("*.sql"))]


def cases_between(first: int, last: int) -> list:
    """pytest params (id = the file's stem) of the cases numbered first..last."""
    return [pytest.param(c, id=c.id) for c in load_cases() if first <= c.number <= last]


# --------------------------------------------------------------------------- the server
def skip_reason(case: Case, server: ConnectionSpec, server_major: int) -> str | None:
    if case.min_server and server_major < case.min_server:
        return f"needs PostgreSQL {case.min_server}+, the server is {server_major}"
    with server.connect() as conn:
        for what, name in case.needs:
            if what == "extension":
                if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s",
                                    (name,)).fetchone():
                    return f"extension {name} is not installed on this server"
            elif what == "extension-versions":
                n = conn.execute("SELECT count(*) FROM pg_available_extension_versions "
                                 "WHERE name = %s", (name,)).fetchone()[0]
                if n < 2:
                    return (f"extension {name} has {n} version(s) on this server; a version "
                            "change needs two")
            elif what == "icu" and not _has_icu(conn):
                return "this server is built without ICU"
    return None


def _has_icu(conn) -> bool:
    """Whether the server can make an ICU collation (a build without ICU may still list
    ICU collations such as `unicode` in pg_collation)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("CREATE COLLATION public.pgrt_icu_probe (provider = icu, "
                         "locale = 'und')")
    except psycopg.Error:
        return False
    return True


def render(text: str, roles: dict[str, str]) -> str:
    return _ROLE.sub(lambda m: '"' + roles[m["name"]] + '"', text)


def _run(spec: ConnectionSpec, text: str, what: str, case: Case) -> None:
    if not text:
        return
    with spec.connect() as conn:
        try:
            conn.execute(text)
        except Exception as exc:  # the case itself is wrong: say which part
            raise AssertionError(f"{case.id}: the {what} SQL fails: {exc}") from exc


# --------------------------------------------------------------------------- rows
_TABLES = """
SELECT n.nspname, c.relname,
       array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgreconcile')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
GROUP BY n.nspname, c.relname
"""


def row_census(spec: ConnectionSpec, columns: dict[str, list[str]] | None = None
               ) -> dict[str, tuple]:
    """{"schema.table": (columns, row count, checksum)}: the rows of every table (FROM ONLY:
    a partition's or child's rows count once, where they are). The checksum is the sum of
    hashtext() over each row's values as text: order-independent, and the same after a
    type change that keeps every value's text (varchar widened, text -> integer of digits,
    enum -> enum of the same labels). With `columns` (an earlier census's), the same
    columns of the same tables are read, so columns added since do not count."""
    out: dict[str, tuple] = {}
    with spec.connect() as conn:
        tables = {f"{s}.{t}": (s, t, cols or []) for s, t, cols in conn.execute(_TABLES)}
        names = columns.keys() if columns is not None else tables.keys()
        for name in names:
            if name not in tables:
                out[name] = (None, None, None)
                continue
            schema, table, present = tables[name]
            cols = columns[name] if columns is not None else present
            missing = [c for c in cols if c not in present]
            if missing:
                out[name] = (tuple(cols), f"columns gone: {missing}", None)
                continue
            values = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c))
                                        for c in cols)
            row = (sql.SQL("ROW({})::text").format(values) if cols
                   else sql.SQL("''"))
            q = sql.SQL("SELECT count(*), coalesce(sum(hashtext({})), 0) FROM ONLY {}.{}"
                        ).format(row, sql.Identifier(schema), sql.Identifier(table))
            count, checksum = conn.execute(q).fetchone()
            out[name] = (tuple(cols), count, int(checksum))
    return out


# --------------------------------------------------------------------------- the procedure
def _keys(changes) -> set[tuple[str, str, str]]:
    return {(c.bucket, c.kind, c.object) for c in changes}


def _show(changes: tuple[Change, ...]) -> str:
    return "\n".join(f"  {c.bucket} {c.kind} {c.object}"
                     f"{' ' + ','.join(c.attributes) if c.attributes else ''}: {c.risk}"
                     for c in changes) or "  (none)"


def _plan_text(plan) -> str:
    lines = [f"  {s.id}{' [destructive]' if s.destructive else ''}: "
             + " / ".join(s.sql)[:300] for s in plan.steps]
    lines += [f"  kept {k.kind} {k.object}: {k.why}" for k in plan.kept]
    lines += [f"  UNSUPPORTED {u.kind} {u.object}: {u.why}" for u in plan.unsupported]
    return "\n".join(lines) or "  (empty plan)"


class _Databases:
    """The case's databases and roles, made on the session's server and always removed."""

    def __init__(self, server: ConnectionSpec, case: Case):
        self.server, self.case = server, case
        self.token = secrets.token_hex(3)
        self.names: list[str] = []
        self.roles = {r: f"{TEST_DB_PREFIX}c{self.token}_{r}" for r in case.roles}

    def __enter__(self) -> _Databases:
        with self.server.connect() as conn:
            for role in self.roles.values():
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        return self

    def new(self, label: str) -> ConnectionSpec:
        name = f"{TEST_DB_PREFIX}c{self.case.number:03d}_{label}_{self.token}"
        self.names.append(name)
        with self.server.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                sql.Identifier(name)))
        return self.server.with_dbname(name)

    def __exit__(self, *exc) -> None:
        for name in self.names:
            drop_database(self.server, name)
        with self.server.connect() as conn:
            for role in self.roles.values():
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def run_case(case: Case, server: ConnectionSpec, server_major: int, tmp_path: Path) -> None:
    reason = skip_reason(case, server, server_major)
    if reason:
        pytest.skip(reason)
    with _Databases(server, case) as dbs:
        live, expected = dbs.new("live"), dbs.new("exp")
        _run(live, render(case.live, dbs.roles), "live", case)
        _run(live, render(case.rows, dbs.roles), "rows", case)
        _run(expected, render(case.expected, dbs.roles), "expected", case)
        converge(case, live, expected, dbs, server_major, tmp_path)


def converge(case: Case, live: ConnectionSpec, expected: ConnectionSpec, dbs: _Databases,
             server_major: int, tmp_path: Path) -> None:
    """The procedure on a case's two databases. Every failure's first line says what went
    wrong in one line (pytest's short summary shows it); the diff and plan follow."""
    kept = {(b, k, _rolename(o, dbs.roles)) for b, k, o in case.expect_kept}
    rows_before = row_census(live)
    live_schema, expected_schema = inspect_schema(live), inspect_schema(expected)
    diff = diff_schemas(live_schema, expected_schema)
    assert diff.significant, f"{case.id}: no drift seen between live and expected"
    plan = make_plan(live_schema, expected_schema, diff, strategy=case.pk_strategy)
    where = f"{case.id}\ndiff:\n{_show(diff.significant)}\nplan:\n{_plan_text(plan)}"

    def check(ok: bool, summary: str, detail: str = "") -> None:
        if not ok:
            raise AssertionError(f"{summary}\n{detail}\n{where}".replace("\n\n", "\n"))

    if case.unsupported:
        refused = {(u.kind, u.object) for u in plan.unsupported if u.why}
        want = {(k, _rolename(o, dbs.roles)) for k, o in case.unsupported}
        if want <= refused:
            with pytest.raises(Refused):
                refuse_unsupported(plan)
        else:
            # Not refused by the plan: apply may still refuse before changing anything
            # (existing rows that would violate a step), naming the object.
            try:
                Executor(live, plan, ApplyOptions(allow_destructive=case.allow_destructive,
                                                  lock_timeout="5s")).run()
            except Refused as exc:
                named = all(o.rsplit(".", 1)[-1] in str(exc) for _, o in want)
                check(named, f"apply refused without naming {sorted(want)}: {exc}")
            except Exception as exc:
                check(False, f"not refused {sorted(want)} by the plan; apply failed instead: "
                             f"{type(exc).__name__}: {exc}"[:500])
            else:
                check(False, f"not refused: {sorted(want - refused)} (the plan refuses "
                             f"{sorted(refused)}, and apply went through)")
        check(inspect_schema(live).fingerprint() == live_schema.fingerprint(),
              "the refused case changed the schema")
        check(row_census(live) == rows_before, "the refused case changed rows")
        return

    check(not plan.unsupported, "the plan refuses: " + "; ".join(
        f"{u.kind} {u.object}: {u.why}" for u in plan.unsupported)[:400])
    options = ApplyOptions(allow_destructive=case.allow_destructive, lock_timeout="5s",
                           current_fingerprint=live_schema.fingerprint())
    try:
        Executor(live, plan, options).run()
    except Exception as exc:
        check(False, f"apply failed: {type(exc).__name__}: {exc}"[:500])

    converged = inspect_schema(live)
    after = diff_schemas(converged, expected_schema)
    left = _keys(after.significant)
    check(left == kept, "not converged, left: " + "; ".join(
        f"{c.bucket} {c.kind} {c.object} {','.join(c.attributes)}".strip()
        for c in after.significant if (c.bucket, c.kind, c.object) not in kept)
        + (f"; kept drift gone: {sorted(kept - left)}" if kept - left else ""),
        f"left after apply:\n{_show(after.significant)}\nexpected kept: {sorted(kept)}")

    again = Executor(live, plan, options).run()
    check(not again.changed, "the rerun changed something: " + ", ".join(
        s.id for s in again.steps if s.outcome == "done"))
    replan = make_plan(converged, expected_schema, after, strategy=case.pk_strategy)
    check(not replan.steps and not replan.unsupported,
          "planning again is not empty: " + ", ".join(s.id for s in replan.steps)
          + ", ".join(f"unsupported {u.object}" for u in replan.unsupported),
          _plan_text(replan))
    check(_keys(replan.kept) == kept, f"planning again keeps {sorted(_keys(replan.kept))}")

    rows_after = row_census(live, {t: list(v[0]) for t, v in rows_before.items()})
    lost = {t: (rows_before[t][1:], rows_after[t][1:]) for t in rows_before
            if rows_before[t] != rows_after[t]}
    check(not lost, f"pre-existing rows changed (count, checksum) before/after: {lost}")

    copy = dbs.new("copy")
    restore_copy(live, copy, server_major, tmp_path / f"{case.id}.dump")
    copied = diff_schemas(inspect_schema(copy), converged)
    check(copied.is_empty, "a dump/restore copy of the converged database differs: "
          + "; ".join(f"{c.bucket} {c.kind} {c.object}" for c in copied.significant),
          _show(copied.significant))

    if kept:
        drop_extra(case, live, expected_schema, converged, after, rows_before, check)


def drop_extra(case: Case, live: ConnectionSpec, expected_schema, converged, after,
               rows_before: dict[str, tuple], check) -> None:
    """A case whose extras stay kept, planned again with --drop-extra: only destructive
    drop steps, refused without --allow-destructive, and with it the diff is empty (exact
    convergence), a rerun changes nothing, and the rows of the tables the reference has
    are kept (in the columns it has)."""
    plan = make_plan(converged, expected_schema, after, strategy=case.pk_strategy,
                     drop_extra=True)
    check(bool(plan.steps) and not plan.kept and not plan.unsupported,
          "--drop-extra: the plan does not drop every extra", _plan_text(plan))
    check(all(s.destructive for s in plan.steps),
          "--drop-extra: a drop step is not marked destructive", _plan_text(plan))
    with pytest.raises(DestructiveStepRefused):
        Executor(live, plan, ApplyOptions(lock_timeout="5s")).run()
    keep = {}
    for name, (cols, _, _) in rows_before.items():
        table = expected_schema.table(name)
        if table is not None:
            names = {c.name for c in table.columns}
            keep[name] = [c for c in cols if c in names]
    before = row_census(live, keep)  # the converged rows, equal to those before apply
    options = ApplyOptions(allow_destructive=True, lock_timeout="5s",
                           current_fingerprint=converged.fingerprint())
    try:
        Executor(live, plan, options).run()
    except Exception as exc:
        check(False, f"--drop-extra: apply failed: {type(exc).__name__}: {exc}"[:500],
              _plan_text(plan))
    final = diff_schemas(inspect_schema(live), expected_schema)
    check(final.is_empty, "--drop-extra: not converged exactly, left: " + "; ".join(
        f"{c.bucket} {c.kind} {c.object}" for c in final.significant), _plan_text(plan))
    again = Executor(live, plan, options).run()
    check(not again.changed, "--drop-extra: the rerun changed something")
    after_rows = row_census(live, keep)
    check(before == after_rows, f"--drop-extra: rows changed: {before} -> {after_rows}")


def _rolename(text: str, roles: dict[str, str]) -> str:
    return _ROLE.sub(lambda m: roles[m["name"]], text)
