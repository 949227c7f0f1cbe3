"""All SQL goes through one quoting layer (issue 13, point 8): a lint over src/ and the
Ansible modules that fails when SQL is built from interpolated text outside it.

* the pure side (plan/) builds SQL text with plan/sqltext.py (ident, qualified,
  qualified_name, literal, regclass); the database side composes with psycopg.sql
  (sql.Identifier, sql.Literal) and binds values (`set_config('lock_timeout', %s, …)`);
* nothing hands execute() or sql.SQL() an f-string, a `%`-formatted or a str.format()ed
  string, or a raw model name;
* a relation (after ALTER/DROP TABLE|INDEX|…, ON, FROM, REFERENCES, …) is never named by a
  bare `ident(...)`: it is schema-qualified.

Each rule is first shown to catch a planted violation, so the lint itself could fail.
"""
from __future__ import annotations

import ast
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgreconcile.plan.sqltext import fit, ident, literal

from .support import REPO

SRC = REPO / "src" / "pgreconcile"

#: Concatenations handed to execute()/sql.SQL() that are known safe, with the reason.
ALLOWED_CONCAT = {
    # sql.Composed + sql.Composed: psycopg composes them, nothing is text-spliced.
    ("apply/audit.py", "UPDATE"), ("apply/audit.py", "DELETE"),
    ("apply/revert.py", "SELECT count"),
    # `op` is one of the two constants ">" / ">=" of the dict comprehension around it.
    ("apply/backfill.py", "SELECT max"),
}
#: Timeouts put into text, with the reason.
ALLOWED_TIMEOUT = {
    # PGOPTIONS of the Django child (`-c lock_timeout=2s`), a server option and not SQL; the
    # value is checked against a strict duration pattern just before.
    ("django/project.py", "-c lock_timeout="),
}
#: Model fields that hold a raw (unquoted) name.
RAW_FIELDS = {"name", "schema", "table", "column", "grantee", "owner", "relname", "nspname"}
#: Keyword arguments and calls whose text is prose for a person, not SQL.
PROSE = {"title", "reason", "risk", "hint", "message", "note", "detail", "why"}
SQL_START = re.compile(r"^\s*(SELECT|ALTER|CREATE|DROP|SET|RESET|INSERT|UPDATE|DELETE|"
                       r"COMMENT|GRANT|REVOKE|REINDEX|LOCK|TRUNCATE|WITH|(NOT )?EXISTS)\b")
RELATION = re.compile(
    r"(\b(ALTER|DROP|LOCK|TRUNCATE)\s+(TABLE|INDEX|VIEW|MATERIALIZED VIEW|SEQUENCE|TYPE|"
    r"DOMAIN|FUNCTION)(\s+CONCURRENTLY)?(\s+IF\s+EXISTS)?(\s+ONLY)?|\bON(\s+ONLY)?|"
    r"\bREFERENCES|\bFROM|\bINTO|\bJOIN|^\s*UPDATE|\bOWNED BY)\s+$", re.I)
TIMEOUT = re.compile(r"\b(lock_timeout|statement_timeout|idle_in_transaction_session_timeout)"
                     r"\s*(=|TO)\s*$", re.I)


def _prose_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside a person's text: keyword arguments like title=, raised errors,
    assignments to a `title`/`reason`/… variable."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in PROSE:
                    out |= {id(n) for n in ast.walk(kw.value)}
            func = node.func
            name = getattr(func, "attr", getattr(func, "id", ""))
            if name in ("refuse", "_drop", "info", "warn", "append"):
                # refuse(change, why) / _drop(out, change, id, title, …): their text args.
                for arg in node.args[1:4] if name in ("refuse", "_drop") else node.args:
                    if name != "append" or not _is_sql_text(arg):
                        out |= {id(n) for n in ast.walk(arg)}
        elif isinstance(node, ast.Raise) and node.exc is not None:
            out |= {id(n) for n in ast.walk(node.exc)}
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in PROSE for t in node.targets):
            out |= {id(n) for n in ast.walk(node.value)}
    return out


def _is_sql_text(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return bool(SQL_START.match(_template(node)))
    return False


def _template(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def violations(source: str, where: str) -> list[str]:
    tree = ast.parse(source)
    prose = _prose_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = getattr(func, "attr", getattr(func, "id", ""))
            arg = node.args[0]
            if name in ("execute", "executemany", "SQL"):
                if isinstance(arg, ast.JoinedStr):
                    found.append(f"{where}:{node.lineno}: {name}() of an f-string")
                elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod):
                    found.append(f"{where}:{node.lineno}: {name}() of a %-formatted string")
                elif (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute)
                      and arg.func.attr == "format" and isinstance(arg.func.value, ast.Constant)):
                    found.append(f"{where}:{node.lineno}: {name}() of str.format()")
                elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add):
                    first = ast.unparse(arg)
                    if not any(where.endswith(f) and s in first for f, s in ALLOWED_CONCAT):
                        found.append(f"{where}:{node.lineno}: {name}() of a concatenation "
                                     f"({first[:60]})")
        if not isinstance(node, ast.JoinedStr) or id(node) in prose:
            continue
        sql_text = bool(SQL_START.match(_template(node)))
        text = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                text += part.value
                continue
            e = part.value
            if TIMEOUT.search(text) and not any(where.endswith(f) and s in text
                                                 for f, s in ALLOWED_TIMEOUT):
                found.append(f"{where}:{node.lineno}: a timeout interpolated into SQL text")
            if isinstance(e, ast.Call) and getattr(e.func, "id", "") == "ident" \
                    and RELATION.search(text):
                found.append(f"{where}:{node.lineno}: a relation named without its schema "
                             f"({ast.unparse(node)[:70]})")
            if sql_text and isinstance(e, ast.Attribute) and e.attr in RAW_FIELDS:
                found.append(f"{where}:{node.lineno}: a raw name ({ast.unparse(e)}) in SQL "
                             "text; quote it with plan/sqltext.py or psycopg.sql")
            text += "{}"
    return found


def test_the_lint_catches_each_kind_of_violation():
    planted = {
        'conn.execute(f"SET lock_timeout = \'{t}\'")': "f-string",
        'conn.execute("SET statement_timeout = %s" % t)': "%-formatted",
        'conn.execute("DROP INDEX {}".format(name))': "str.format",
        'conn.execute("DROP TABLE " + name)': "concatenation",
        'rev = f"DROP INDEX CONCURRENTLY IF EXISTS {ident(index.name)}"': "without its schema",
        'q = f"ALTER TABLE {ident(table)} ADD COLUMN x int"': "without its schema",
        'q = f"CREATE INDEX {ident(n)} ON {ident(t)} (a)"': "without its schema",
        'q = f"DROP INDEX {qualified(s, i)}; SET lock_timeout = {t}"': "timeout",
        'q = f"SELECT 1 FROM pg_class WHERE relname = \'{index.name}\'"': "raw name",
    }
    for code, what in planted.items():
        found = violations(code, "planted.py")
        assert len(found) == 1 and what in found[0], (code, found)
    # Prose and the layer's own output are not flagged.
    for code in ('out.add("x", title=f"DROP INDEX {index.name}", sql=(s,))',
                 'q = f"DROP INDEX IF EXISTS {qualified(schema, index.name)}"',
                 'q = f"CREATE INDEX {ident(n)} ON {qualified_name(t)} (a)"',
                 'conn.execute("SELECT set_config(\'lock_timeout\', %s, true)", (t,))'):
        assert violations(code, "ok.py") == [], code


def test_no_sql_is_built_outside_the_quoting_layer():
    """The engine and the Ansible modules (bench/ builds fixed test data and is left out)."""
    found = []
    for root in (SRC, REPO / "library", REPO / "module_utils"):
        for path in sorted(root.rglob("*.py")):
            found += violations(path.read_text(encoding="utf-8"),
                                path.relative_to(SRC if root == SRC else REPO).as_posix())
    assert found == [], "\n".join(found)


# --------------------------------------------------------------------------- the layer itself
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=40)


@pytest.fixture(scope="module")
def conn(server):
    with server.connect(autocommit=True) as c:
        yield c


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_TEXT.filter(lambda n: len(n.encode()) <= 63), text=_TEXT)
def test_postgresql_reads_back_exactly_what_the_layer_quoted(conn, name, text):
    """Any name (quotes, `;`, `--`, `$$`, unicode, keywords) is one identifier to the server,
    and any text one literal: `SELECT <literal> AS <ident>` returns the text, named the name;
    a name too long is cut by the server exactly where sqltext.fit cuts it."""
    long = name * 5
    cur = conn.execute(f"SELECT {literal(text)} AS {ident(name)}, 1 AS {ident(long)}")
    assert [d.name for d in cur.description] == [name, fit(long)]
    assert cur.fetchone()[0] == text
