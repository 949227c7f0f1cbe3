"""Reference SQL files: read, lexed and refused before anything runs.

A reference SQL file (`--reference-sql`) is never given to psql. psql would run its
meta-commands (`\\!` a shell command, `\\connect` another database, `\\o |cmd`,
`\\copy`, `\\gexec`, `\\i`, ...) with the operator's rights on the operator's machine.
Instead the file is sent to the server as SQL over pgreconcile's own connection, so a
backslash outside a string is a syntax error there. This lexer finds such commands first
and refuses the file with the line and the command named.

What the lexer knows of psql's grammar: `--` and nested `/* */` comments, '...' strings
('' doubles a quote; E'...' also takes backslash escapes), "..." identifiers, $tag$...$tag$
bodies, parentheses, and `;` ending a statement. Beyond that it only looks at the first
words of a statement:

* `\\restrict KEY` as the file's first command and `\\unrestrict KEY` (the same key) as its
  last, each on a line of its own, are allowed: pg_dump 17.6+/18 writes them into plain
  dumps and they only restrict psql further. They are blanked out.
* `COPY ... FROM stdin` and its data lines up to `\\.` are blanked out unread: a reference
  is a schema, its rows do not matter (a data dump loads as its schema alone).
* `ALTER ... OWNER TO role` and `ALTER DEFAULT PRIVILEGES` are blanked out when the file
  runs as the sandbox role (which may not act for other roles): pgreconcile compares
  neither.

Blanking keeps every newline, so the server's error positions are the file's lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pgreconcile.errors import Refused, UsageError

_IDENT_START = re.compile(r"[A-Za-z_\u0080-\U0010ffff]")
_IDENT = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_RESTRICT = re.compile(r"[ \t]*\\(restrict|unrestrict)[ \t]+([A-Za-z0-9]+)[ \t]*\r?$")
_COPY_END = re.compile(r"\\\.[ \t]*\r?$")


class MetaCommandRefused(Refused):
    """A psql meta-command in a reference SQL file: nothing was run."""

    hint = ("a reference SQL file is plain SQL (e.g. `pg_dump --schema-only`); remove psql "
            "commands such as \\connect, \\!, \\set or \\i from it")


@dataclass(frozen=True)
class Statement:
    start: int          # offset of its first word
    end: int            # offset just past its `;` (or the end of the text)
    line: int           # line of its first word, 1-based
    words: tuple[str, ...]  # upper-cased words outside strings, parentheses and comments


@dataclass
class Lexed:
    text: str
    statements: list[Statement] = field(default_factory=list)
    # (start, end) spans to blank out: \restrict / \unrestrict lines, COPY data blocks
    blanks: list[tuple[int, int]] = field(default_factory=list)
    meta: list[tuple[int, str]] = field(default_factory=list)  # (line, command) not allowed
    restrict_key: str | None = None


def lex(text: str) -> Lexed:
    """Split `text` as psql would, collecting statements and meta-commands. Never raises."""
    out = Lexed(text)
    n = len(text)
    i = 0
    line = 1
    depth = 0
    stmt_start: int | None = None
    stmt_line = 0
    words: list[str] = []
    seen_sql = False          # any statement so far (for \restrict: must come first)
    unrestricted = False      # \unrestrict seen: only comments and blanks may follow

    def finish(end: int) -> None:
        nonlocal stmt_start, words, depth
        if stmt_start is not None:
            out.statements.append(Statement(stmt_start, end, stmt_line, tuple(words)))
        stmt_start, words, depth = None, [], 0

    def begin(pos: int) -> None:
        nonlocal stmt_start, stmt_line, seen_sql
        if stmt_start is None:
            stmt_start, stmt_line, seen_sql = pos, line, True
            if unrestricted:
                out.meta.append((line, "SQL after \\unrestrict"))

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r\f\v":
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            level, j = 1, i + 2
            while j < n and level:
                if text.startswith("/*", j):
                    level, j = level + 1, j + 2
                elif text.startswith("*/", j):
                    level, j = level - 1, j + 2
                else:
                    j += 1
            line += text.count("\n", i, j)
            i = j
        elif c == "'":
            begin(i)
            backslash = (i > 0 and text[i - 1] in "eE"
                         and not (i > 1 and _is_ident_char(text[i - 2])))
            j = _end_of_quoted(text, i + 1, "'", backslash)
            line += text.count("\n", i, j)
            i = j
        elif c == '"':
            begin(i)
            j = _end_of_quoted(text, i + 1, '"', False)
            line += text.count("\n", i, j)
            i = j
        elif c == "$" and not (i > 0 and _is_ident_char(text[i - 1])):
            begin(i)
            m = _DOLLAR_TAG.match(text, i)
            if m is None:
                i += 1
                continue
            close = text.find(m.group(0), m.end())
            j = n if close < 0 else close + len(m.group(0))
            line += text.count("\n", i, j)
            i = j
        elif c == "\\":
            eol = text.find("\n", i)
            eol = n if eol < 0 else eol
            bol = text.rfind("\n", 0, i) + 1
            restrict = _RESTRICT.match(text, bol, eol)
            if (restrict and stmt_start is None and text[bol:i].strip() == ""
                    and _restrict_allowed(out, restrict, seen_sql, unrestricted)):
                if restrict.group(1) == "restrict":
                    out.restrict_key = restrict.group(2)
                else:
                    unrestricted = True
                out.blanks.append((bol, eol))
            else:
                out.meta.append((line, _command_name(text, i)))
            # psql takes the rest of the line as the command's arguments
            i = eol
        elif c == ";":
            if stmt_start is None:
                begin(i)
            if depth == 0:
                finish(i + 1)
                last = out.statements[-1]
                if _is_copy_from_stdin(last.words):
                    # the data follow on the next line, up to a line `\.` (or the end)
                    eol = text.find("\n", i)
                    j = n if eol < 0 else eol + 1
                    data_start = j
                    while j < n:
                        nxt = text.find("\n", j)
                        stop = n if nxt < 0 else nxt
                        if _COPY_END.match(text, j, stop):
                            j = stop
                            break
                        j = n if nxt < 0 else nxt + 1
                    out.blanks.append((data_start, j))
                    line += text.count("\n", i, j)
                    i = j
                    continue
            i += 1
        elif c == "(":
            begin(i)
            depth += 1
            i += 1
        elif c == ")":
            begin(i)
            depth = max(0, depth - 1)
            i += 1
        elif _IDENT_START.match(c):
            begin(i)
            m = _IDENT.match(text, i + 1)
            if depth == 0 and len(words) < 64:
                words.append(text[i:m.end()].upper())
            i = m.end()
        else:
            begin(i)
            i += 1
    finish(n)
    if out.restrict_key and not unrestricted:
        out.meta.append((line, "\\restrict without \\unrestrict"))
    return out


def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def _end_of_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    """Offset just past the closing quote (doubled quotes and, in E'', backslashes escape)."""
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _restrict_allowed(out: Lexed, m: re.Match, seen_sql: bool, unrestricted: bool) -> bool:
    if unrestricted:
        return False
    if m.group(1) == "restrict":
        return not seen_sql and out.restrict_key is None
    return out.restrict_key == m.group(2)


def _command_name(text: str, i: int) -> str:
    m = re.compile(r"\\([A-Za-z]+|[^\sA-Za-z]?)").match(text, i)
    return m.group(0) if m else "\\"


def _is_copy_from_stdin(words: tuple[str, ...]) -> bool:
    if not words or words[0] != "COPY":
        return False
    pairs = zip(words, words[1:], strict=False)
    return any(a == "FROM" and b in ("STDIN", "PSTDIN") for a, b in pairs)


def _is_owner_change(words: tuple[str, ...]) -> bool:
    """`ALTER ... OWNER TO`, and default privileges (pgreconcile compares neither)."""
    if words[:3] == ("ALTER", "DEFAULT", "PRIVILEGES"):
        return True
    return (len(words) > 2 and words[0] == "ALTER"
            and any(a == "OWNER" and b == "TO" for a, b in zip(words, words[1:], strict=False)))


@dataclass(frozen=True)
class ReferenceSql:
    path: Path
    text: str           # what the server is given (allowed psql lines and COPY data blanked)
    statements: int

    def without_owner_changes(self) -> str:
        """The text with `ALTER ... OWNER TO` blanked (the sandbox role may not give away)."""
        lexed = lex(self.text)
        return _blank(self.text, [(s.start, s.end) for s in lexed.statements
                                  if _is_owner_change(s.words)])


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        parts.append(text[pos:start])
        parts.append(re.sub(r"[^\n]", " ", text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def read_reference_sql(path: Path) -> ReferenceSql:
    """The file's SQL, or MetaCommandRefused naming the first psql command (exit 4)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --reference-sql {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--reference-sql {path} is not UTF-8 text (byte {exc.start})",
                         hint="write the file as UTF-8 (pg_dump -E UTF8)") from None
    if "\x00" in text:
        raise UsageError(f"--reference-sql {path} holds a NUL byte: not a SQL file")
    lexed = check_text(text, str(path))
    copy_statements = [(s.start, s.end) for s in lexed.statements
                       if _is_copy_from_stdin(s.words)]
    return ReferenceSql(path, _blank(text, lexed.blanks + copy_statements),
                        len(lexed.statements))


def check_text(text: str, name: str = "the file") -> Lexed:
    """Lex `text`; MetaCommandRefused if it holds any psql command other than the one
    \\restrict/\\unrestrict pair."""
    lexed = lex(text)
    if lexed.meta:
        line, command = lexed.meta[0]
        more = f" (and {len(lexed.meta) - 1} more)" if len(lexed.meta) > 1 else ""
        raise MetaCommandRefused(
            f"{name} line {line}: psql command {command} refused{more}; "
            "a reference SQL file may hold SQL only, nothing was run")
    return lexed
