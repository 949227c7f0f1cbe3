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
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from pgreconcile.errors import Refused, UsageError

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


# where something the lexer tracks may start; everything between is words, numbers,
# operators and blanks
_INTERESTING = re.compile(r"--|/\*|['\"$;\\()]")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_E_STRING_END = re.compile(r"(?:[^'\\]|\\.|'')*'", re.S)
_NON_SPACE = re.compile(r"\S")
_WATCHED = ("ALTER", "COPY")   # statements whose words are collected (see below)


def lex(text: str) -> Lexed:
    """Split `text` as psql would, collecting statements and meta-commands. Never raises.

    Words are collected only for statements that start with ALTER or COPY (the only ones
    anything is decided on); other statements carry their first word alone."""
    out = Lexed(text)
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect_left(newlines, pos) + 1

    n = len(text)
    i = 0
    depth = 0
    stmt_start: int | None = None
    words: list[str] = []
    seen_sql = False          # any statement so far (for \restrict: must come first)
    unrestricted = False      # \unrestrict seen: only comments and blanks may follow

    def finish(end: int) -> None:
        nonlocal stmt_start, words, depth
        if stmt_start is not None:
            out.statements.append(Statement(stmt_start, end, line_of(stmt_start),
                                            tuple(words)))
        stmt_start, words, depth = None, [], 0

    def begin(pos: int) -> None:
        nonlocal stmt_start, seen_sql
        if stmt_start is None:
            stmt_start, seen_sql = pos, True
            if unrestricted:
                out.meta.append((line_of(pos), "SQL after \\unrestrict"))

    def plain(start: int, end: int) -> None:
        """Words, numbers, operators and blanks between start and end."""
        if start >= end:
            return
        if stmt_start is None:
            first = _first_non_space(text, start, end)
            if first is None:
                return
            begin(first)
        if depth == 0 and (not words or words[0] in _WATCHED) and len(words) < 64:
            words.extend(w.upper() for w in _WORD.findall(text, start, end))

    while i < n:
        m = _INTERESTING.search(text, i)
        if m is None:
            plain(i, n)
            break
        k = m.start()
        plain(i, k)
        token = m.group(0)
        if token == "--":
            j = text.find("\n", k)
            i = n if j < 0 else j
        elif token == "/*":
            level, j = 1, k + 2
            while level:
                opened, closed = text.find("/*", j), text.find("*/", j)
                if closed < 0:
                    j = n
                    break
                if 0 <= opened < closed:
                    level, j = level + 1, opened + 2
                else:
                    level, j = level - 1, closed + 2
            i = j
        elif token == "'":
            begin(k)
            if k > 0 and text[k - 1] in "eE" and not (k > 1 and _is_ident_char(text[k - 2])):
                e = _E_STRING_END.match(text, k + 1)
                i = e.end() if e else n
            else:
                i = _end_of_quoted(text, k + 1, "'")
        elif token == '"':
            begin(k)
            i = _end_of_quoted(text, k + 1, '"')
        elif token == "$":
            begin(k)
            tag = None if k > 0 and _is_ident_char(text[k - 1]) else _DOLLAR_TAG.match(text, k)
            if tag is None:
                i = k + 1
                continue
            close = text.find(tag.group(0), tag.end())
            i = n if close < 0 else close + len(tag.group(0))
        elif token == "\\":
            eol = text.find("\n", k)
            eol = n if eol < 0 else eol
            bol = text.rfind("\n", 0, k) + 1
            restrict = _RESTRICT.match(text, bol, eol)
            if (restrict and stmt_start is None and text[bol:k].strip() == ""
                    and _restrict_allowed(out, restrict, seen_sql, unrestricted)):
                if restrict.group(1) == "restrict":
                    out.restrict_key = restrict.group(2)
                else:
                    unrestricted = True
                out.blanks.append((bol, eol))
            else:
                out.meta.append((line_of(k), _command_name(text, k)))
            # psql takes the rest of the line as the command's arguments
            i = eol
        elif token == ";":
            begin(k)
            i = k + 1
            if depth == 0:
                finish(k + 1)
                if _is_copy_from_stdin(out.statements[-1].words):
                    # the data follow on the next line, up to a line `\.` (or the end)
                    eol = text.find("\n", k)
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
                    i = j
        elif token == "(":
            begin(k)
            depth += 1
            i = k + 1
        else:  # ")"
            begin(k)
            depth = max(0, depth - 1)
            i = k + 1
    finish(n)
    if out.restrict_key and not unrestricted:
        out.meta.append((line_of(n), "\\restrict without \\unrestrict"))
    return out


def _first_non_space(text: str, start: int, end: int) -> int | None:
    m = _NON_SPACE.search(text, start, end)
    return m.start() if m else None


def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def _end_of_quoted(text: str, i: int, quote: str) -> int:
    """Offset just past the closing quote (a doubled quote is one character)."""
    while True:
        j = text.find(quote, i)
        if j < 0:
            return len(text)
        if text.startswith(quote, j + 1):
            i = j + 2
        else:
            return j + 1


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
    owner_changes: tuple[tuple[int, int], ...] = ()   # spans of ALTER ... OWNER TO & co

    def without_owner_changes(self) -> str:
        """The text with `ALTER ... OWNER TO` and `ALTER DEFAULT PRIVILEGES` blanked (the
        sandbox role may not act for other roles)."""
        return _blank(self.text, list(self.owner_changes))


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
        raise UsageError(f"cannot read --reference-sql {path}: {exc.strerror}",
                         hint="check the path and that this user may read it") from None
    text = decode(raw, path)
    if "\x00" in text:
        raise UsageError(f"--reference-sql {path} holds a NUL byte: not a SQL file",
                         hint="give a plain SQL script, e.g. from pg_dump --schema-only")
    lexed = check_text(text, str(path))
    copy_statements = [(s.start, s.end) for s in lexed.statements
                       if _is_copy_from_stdin(s.words)]
    owner_changes = tuple((s.start, s.end) for s in lexed.statements
                          if _is_owner_change(s.words))
    return ReferenceSql(path, _blank(text, lexed.blanks + copy_statements),
                        len(lexed.statements), owner_changes)


_DECLARED = re.compile(rb"^SET client_encoding = '([A-Za-z0-9_]+)';", re.M)


def decode(raw: bytes, path: Path) -> str:
    """The file as text: in the encoding its `SET client_encoding` names (pg_dump writes
    the database's), else UTF-8. The lexer reads characters, not bytes, so a multibyte
    encoding whose second byte may be a backslash or a quote cannot mislead it; the text
    goes to the server as UTF-8."""
    declared = _DECLARED.search(raw[:65536])
    name = declared.group(1).decode().upper() if declared else "UTF8"
    codec = _python_codec(name)
    try:
        if codec is None:
            raise LookupError(name)
        return raw.decode("utf-8-sig" if codec == "utf-8" else codec)
    except LookupError:
        raise UsageError(f"--reference-sql {path}: client_encoding {name} is not supported",
                         hint="dump the reference with pg_dump -E UTF8") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"--reference-sql {path} is not valid {name} text (byte {exc.start})",
                         hint="dump the reference with pg_dump -E UTF8") from None


def _python_codec(pg_name: str) -> str | None:
    if pg_name in ("UTF8", "UNICODE"):
        return "utf-8"
    if pg_name == "SQL_ASCII":
        return None           # bytes without an encoding: nothing to read them as
    win = re.fullmatch(r"WIN(\d+)", pg_name)
    name = f"cp{win.group(1)}" if win else pg_name.lower()
    import codecs
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


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
