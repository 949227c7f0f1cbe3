"""The PowerShell wrappers in scripts/, proven without PowerShell.

PowerShell does not run on these machines, so every `scripts/*.ps1` is read with a real
PowerShell grammar (tree-sitter-powershell) and checked from its parse tree:

* it parses without ERROR or MISSING nodes;
* each script carries dbatools-style help (an example per parameter set),
  `[CmdletBinding(SupportsShouldProcess)]` and `$ErrorActionPreference = 'Stop'`; the CLI
  wrappers (Backup-Db, Restore-Db, Invoke-Reconcile) call the CLI only through
  `PgReconcile.Common.ps1` (`Invoke-PgReconcileCli -Arguments $cliArgs`);
  Register-MaintenanceTask does not call the CLI: it registers a scheduled task that runs
  Invoke-Reconcile.ps1;
* no password reaches a command line: a credential's plain-text password may only be
  assigned to `$env:PGPASSWORD`, inside a try whose finally puts the environment back, or
  be the -Password of Register-ScheduledTask (Task Scheduler keeps it); nothing secret
  flows into a scheduled task's definition;
* the subcommand and every `--option` literal are accepted by `pgreconcile.cli.build_parser()`;
* the argument list a wrapper builds is reconstructed by evaluating the statements that
  build `$cliArgs` (parameters and parameter sets bound and validated as PowerShell would,
  literals, if/elseif/else, try/finally, `$PSBoundParameters`, `ShouldProcess` with its
  ConfirmImpact/$ConfirmPreference rule, `$WhatIfPreference`, and the Common helpers modelled
  in Python), parsed by the real argparse parser, and run with the real CLI against a real
  server; for the scheduled task, the Invoke-Reconcile.ps1 arguments it registers are bound to
  Invoke-Reconcile.ps1 and followed down to the CLI the same way.

Convention for wrappers (so these checks keep working for new ones): build the CLI's
arguments in an array named `$cliArgs` that starts with the subcommand, add to it only with
`+=` inside plain `if` statements, and hand it to `Invoke-PgReconcileCli -Arguments $cliArgs`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from pgreconcile.cli import build_parser
from pgreconcile.pg.scratch import drop_database, list_scratch_databases
from pgreconcile.runbook.window import MaintenanceWindows, Window

from .support import EXAMPLE, REPO, TEST_DB_PREFIX, fingerprint_and_counts, query, run_sql

SCRIPTS = REPO / "scripts"
COMMON = "PgReconcile.Common.ps1"
CLI_TIMEOUT = 120

PARSER = Parser(Language(tree_sitter_powershell.language()))


# --------------------------------------------------------------------------- parse trees
@dataclass
class Script:
    path: Path
    source: bytes

    @classmethod
    def load(cls, path: Path) -> Script:
        return cls(path, path.read_bytes())

    @classmethod
    def from_text(cls, tmp_path: Path, name: str, text: str) -> Script:
        path = tmp_path / name
        path.write_text(text)
        return cls.load(path)

    @cached_property
    def root(self) -> Node:
        return PARSER.parse(self.source).root_node

    def text(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode()

    def where(self, node: Node) -> str:
        return f"{self.path.name}:{node.start_point[0] + 1}"

    def nodes(self, node: Node | None = None) -> Iterator[Node]:
        stack = [node or self.root]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.children))

    def of_type(self, *types: str, under: Node | None = None) -> Iterator[Node]:
        return (n for n in self.nodes(under) if n.type in types)


# Nodes that only wrap one meaningful child (the grammar's precedence ladder).
_WRAPPERS = {
    "pipeline", "pipeline_chain", "logical_expression", "bitwise_expression",
    "comparison_expression", "additive_expression", "multiplicative_expression",
    "format_expression", "range_expression", "array_literal_expression", "unary_expression",
    "left_assignment_expression", "argument_expression", "logical_argument_expression",
    "bitwise_argument_expression", "comparison_argument_expression",
    "additive_argument_expression", "multiplicative_argument_expression",
    "format_argument_expression", "range_argument_expression", "parenthesized_expression",
    "statement_list", "script_parameter_default", "attribute_argument",
}


def core(node: Node) -> Node:
    while node.type in _WRAPPERS:
        named = [c for c in node.named_children if c.type != "comment"]
        if len(named) != 1:
            break
        node = named[0]
    return node


def string_value(script: Script, node: Node) -> str | None:
    """The value of a string literal without variables; None for anything else."""
    node = core(node)
    if node.type == "string_literal":
        node = node.named_children[0]
    text = script.text(node)
    if node.type == "verbatim_string_characters":
        return text[1:-1].replace("''", "'")
    if node.type == "expandable_string_literal" and not node.named_children:
        return text[1:-1].replace('`"', '"').replace("``", "`")
    return None


def variable_name(script: Script, node: Node) -> str | None:
    node = core(node)
    if node.type == "variable":
        return script.text(node).lstrip("$@").strip("{}").lower()
    return None


def member_name(script: Script, node: Node) -> str | None:
    for child in node.children:
        if child.type == "member_name":
            return script.text(child)
    return None


def command_name(script: Script, command: Node) -> str:
    for child in command.children:
        if child.type in ("command_name", "command_name_expr"):
            return script.text(child)
    return ""


def command_arguments(script: Script, command: Node) -> dict[str, Node | None]:
    """`-Name value` pairs of a command (a switch maps to None)."""
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    found: dict[str, Node | None] = {}
    if elements is None:
        return found
    items = [c for c in elements.named_children if c.type != "command_argument_sep"]
    i = 0
    while i < len(items):
        item = items[i]
        if item.type == "command_parameter":
            name = script.text(item).lstrip("-").rstrip(":").lower()
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is not None and nxt.type != "command_parameter":
                found[name] = nxt
                i += 2
                continue
            found[name] = None
        i += 1
    return found


def assignment_parts(script: Script, node: Node) -> tuple[Node, str, Node] | None:
    """(left, operator, right) of an assignment_expression."""
    if node.type != "assignment_expression":
        return None
    left = next(c for c in node.children if c.type == "left_assignment_expression")
    op = next(c for c in node.children if c.type == "assignement_operator")
    right = node.named_children[-1]
    return left, script.text(op), right


def assigns_to(script: Script, node: Node, name: str) -> bool:
    parts = assignment_parts(script, node)
    return parts is not None and variable_name(script, parts[0]) == name.lower()


def inside(node: Node, *types: str) -> Node | None:
    parent = node.parent
    while parent is not None:
        if parent.type in types:
            return parent
        parent = parent.parent
    return None


# --------------------------------------------------------------------------- checks
def syntax_problems(script: Script) -> list[str]:
    return [f"{script.where(n)}:{n.start_point[1] + 1}: "
            + (f"missing {n.type!r}" if n.is_missing else f"syntax error near "
               f"{script.text(n)[:60]!r}")
            for n in script.nodes() if n.is_error or n.is_missing]


def param_block(script: Script) -> Node | None:
    return next((c for c in script.root.children if c.type == "param_block"), None)


ALL_SETS = "__AllParameterSets"


@dataclass
class ScriptParameter:
    name: str
    aliases: set[str] = field(default_factory=set)
    sets: set[str] = field(default_factory=set)
    default: Node | None = None
    is_switch: bool = False
    # One (parameter set, mandatory) per [Parameter()] attribute; none means all sets, optional.
    declarations: list[tuple[str, bool]] = field(default_factory=list)
    pattern: str | None = None
    choices: list[str] | None = None
    range: tuple[int, int] | None = None

    @property
    def mandatory(self) -> bool:
        return any(mandatory for _, mandatory in self.declarations)

    def mandatory_in(self, name: str) -> bool:
        return any(m and s in (name, ALL_SETS) for s, m in self.declarations)

    def validate(self, value: object) -> None:
        """What PowerShell's Validate* attributes would refuse at binding time."""
        if isinstance(value, list):  # [string[]]: each element is validated
            for item in value:
                self.validate(item)
            return
        if self.pattern is not None and not re.search(self.pattern, str(value), re.IGNORECASE):
            raise ParameterRejected(f"-{self.name} {value!r} does not match {self.pattern}")
        if self.choices is not None and str(value).lower() not in {c.lower() for c in self.choices}:
            raise ParameterRejected(f"-{self.name} {value!r} is not one of {self.choices}")
        if self.range is not None and not self.range[0] <= int(value) <= self.range[1]:
            raise ParameterRejected(f"-{self.name} {value!r} is outside {self.range}")


def script_parameters(script: Script) -> dict[str, ScriptParameter]:
    block = param_block(script)
    params: dict[str, ScriptParameter] = {}
    if block is None:
        return params
    for node in script.of_type("script_parameter", under=block):
        name = script.text(next(c for c in node.children if c.type == "variable")).lstrip("$")
        param = ScriptParameter(name)
        param.default = next((c for c in node.children if c.type == "script_parameter_default"),
                             None)
        for attribute in script.of_type("attribute", "type_literal", under=node):
            kind = script.text(attribute).strip("[]").split("(")[0].strip().lower()
            arguments = list(script.of_type("attribute_argument", under=attribute))
            literals = [string_value(script, a) for a in arguments]
            if kind == "switch":
                param.is_switch = True
            elif kind == "alias":
                param.aliases |= {v for v in literals if v}
            elif kind == "validatepattern":
                param.pattern = literals[0]
            elif kind == "validateset":
                param.choices = [v for v in literals if v is not None]
            elif kind == "validaterange" and all(
                    core(a).type == "integer_literal" for a in arguments):
                low, high = (int(script.text(core(a))) for a in arguments)
                param.range = (low, high)
            elif kind == "parameter":
                set_name, mandatory = ALL_SETS, False
                for argument in arguments:
                    key, _, value = script.text(argument).partition("=")
                    key = key.strip().lower()
                    if key == "mandatory" and value.strip().lower() in ("", "$true"):
                        mandatory = True
                    elif key == "parametersetname":
                        set_name = string_value(script, argument.named_children[-1]) or ""
                        param.sets.add(set_name)
                param.declarations.append((set_name, mandatory))
        params[name.lower()] = param
    return params


def cmdlet_binding_arguments(script: Script) -> dict[str, str] | None:
    block = param_block(script)
    if block is None:
        return None
    for attribute in script.of_type("attribute", under=block):
        if attribute.parent.parent.type != "param_block":
            continue
        if script.text(attribute).lstrip("[").split("(")[0].strip().lower() == "cmdletbinding":
            args = {}
            for argument in script.of_type("attribute_argument", under=attribute):
                name, _, value = script.text(argument).partition("=")
                args[name.strip().lower()] = value.strip() or "$true"
            return args
    return None


def binding_setting(script: Script, name: str) -> str | None:
    """A literal CmdletBinding argument, e.g. ConfirmImpact -> 'Medium'; None when absent."""
    value = (cmdlet_binding_arguments(script) or {}).get(name.lower())
    return None if value is None else value.strip("'\"")


COMMON_PARAMETERS = {"whatif", "confirm", "verbose", "debug", "erroraction", "warningaction",
                     "informationaction", "errorvariable", "warningvariable", "outvariable",
                     "outbuffer", "pipelinevariable", "informationvariable", "progressaction"}


HELP_KEYWORDS = {"SYNOPSIS", "DESCRIPTION", "PARAMETER", "EXAMPLE", "INPUTS", "OUTPUTS",
                 "NOTES", "LINK", "COMPONENT", "ROLE", "FUNCTIONALITY", "FORWARDHELPTARGETNAME",
                 "FORWARDHELPCATEGORY", "REMOTEHELPRUNSPACE", "EXTERNALHELP"}


def help_sections(script: Script) -> list[tuple[str, str, str]]:
    """(keyword, argument, body) of the comment-based help block before `param`."""
    block = param_block(script)
    limit = block.start_byte if block else len(script.source)
    for node in script.root.children:
        if node.start_byte >= limit:
            break
        text = script.text(node)
        if node.type == "comment" and text.startswith("<#") and ".SYNOPSIS" in text.upper():
            sections: list[list[str]] = []
            for line in text[2:-2].splitlines():
                m = re.match(r"^\s*\.([A-Za-z]+)\s*(\S*)\s*$", line)
                if m and m.group(1).upper() in HELP_KEYWORDS:
                    sections.append([m.group(1).upper(), m.group(2), ""])
                elif sections:
                    sections[-1][2] += line + "\n"
            return [tuple(s) for s in sections]
    return []


def help_problems(script: Script) -> list[str]:
    problems = []
    sections = help_sections(script)
    keywords = [s[0] for s in sections]
    for required in ("SYNOPSIS", "DESCRIPTION", "EXAMPLE", "OUTPUTS", "NOTES"):
        if required not in keywords:
            problems.append(f"{script.path.name}: comment-based help has no .{required}")
    params = script_parameters(script)
    documented = {arg.lower() for kw, arg, _ in sections if kw == "PARAMETER"}
    for key, param in params.items():
        if key not in documented:
            problems.append(f"{script.path.name}: no .PARAMETER {param.name}")
    for name in documented - set(params) - {"whatif", "confirm"}:
        problems.append(f"{script.path.name}: .PARAMETER {name} documents no parameter")
    # Every parameter an example passes to this script must exist; each set needs an example.
    known = set(params) | {a.lower() for p in params.values() for a in p.aliases}
    known |= COMMON_PARAMETERS
    used_sets: set[str] = set()
    for kw, _, body in sections:
        if kw != "EXAMPLE":
            continue
        code = "\n".join(re.sub(r"^\s*PS [^>]*>\s?", "", line) for line in body.splitlines()
                         if re.match(r"^\s*PS [^>]*>", line))
        if not code:
            problems.append(f"{script.path.name}: an .EXAMPLE has no `PS C:\\>` command line")
            continue
        example = Script(script.path, code.encode())
        if syntax_problems(example):
            problems.append(f"{script.path.name}: example does not parse: {code!r}")
        calls = [c for c in example.of_type("command")
                 if command_name(example, c).replace("\\", "/").endswith(script.path.name)]
        if not calls:
            problems.append(f"{script.path.name}: example does not run the script: {code!r}")
        for call in calls:
            for name in command_arguments(example, call):
                if name not in known:
                    problems.append(f"{script.path.name}: example passes unknown -{name}")
                elif name in params:
                    used_sets |= params[name].sets
    for param_set in {s for p in params.values() for s in p.sets} - used_sets:
        problems.append(f"{script.path.name}: no .EXAMPLE for parameter set {param_set!r}")
    return problems


def top_level_stop(script: Script) -> list[Node]:
    """`$ErrorActionPreference = 'Stop'` statements outside functions."""
    return [a for a in script.of_type("assignment_expression")
            if assigns_to(script, a, "ErrorActionPreference")
            and string_value(script, a.named_children[-1]) == "Stop"
            and not inside(a, "function_statement")]


def dot_sources_common(script: Script) -> bool:
    return any(
        any(c.type == "command_invokation_operator" and script.text(c) == "." for c in cmd.children)
        and COMMON in script.text(cmd) for cmd in script.of_type("command"))


def shape_problems(script: Script) -> list[str]:
    """Every script: CmdletBinding with SupportsShouldProcess, 'Stop', no CLI run by hand,
    and PGPASSWORD left to the common file."""
    problems = []
    binding = cmdlet_binding_arguments(script)
    if binding is None:
        problems.append(f"{script.path.name}: no [CmdletBinding()] on the param block")
    elif binding.get("supportsshouldprocess", "$false").lower() != "$true":
        problems.append(f"{script.path.name}: CmdletBinding lacks SupportsShouldProcess")
    if not top_level_stop(script):
        problems.append(f"{script.path.name}: no $ErrorActionPreference = 'Stop'")
    for cmd in script.of_type("command"):
        name = command_name(script, cmd)
        direct = any(c.type == "command_invokation_operator" and script.text(c) == "&"
                     for c in cmd.children)
        if direct or name.lower().startswith(("pgreconcile", "start-process", "invoke-expression")):
            problems.append(f"{script.where(cmd)}: runs {name} directly; use Invoke-PgReconcileCli")
    for node in script.of_type("variable", "verbatim_string_characters",
                               "expandable_string_literal"):
        if "pgpassword" in script.text(node).lower():
            problems.append(f"{script.where(node)}: wrappers leave PGPASSWORD to {COMMON}")
    return problems


def cli_call_problems(script: Script) -> list[str]:
    """Scripts that call the CLI: through the common file, with `-Arguments $cliArgs`, after
    `$ErrorActionPreference = 'Stop'`."""
    problems = []
    calls = [c for c in script.of_type("command")
             if command_name(script, c).lower() == "invoke-pgreconcilecli"]
    stop = top_level_stop(script)
    if stop and calls and stop[0].start_byte > calls[0].start_byte:
        problems.append(f"{script.path.name}: no $ErrorActionPreference = 'Stop' "
                        "before the CLI call")
    if not dot_sources_common(script):
        problems.append(f"{script.path.name}: does not dot-source {COMMON}")
    if not calls:
        problems.append(f"{script.path.name}: never calls Invoke-PgReconcileCli")
    for call in calls:
        value = command_arguments(script, call).get("arguments")
        if value is None or variable_name(script, value) != "cliargs":
            problems.append(f"{script.where(call)}: Invoke-PgReconcileCli without "
                            "-Arguments $cliArgs")
    return problems


def wrapper_problems(script: Script) -> list[str]:
    """A CLI wrapper: its shape, and the CLI reached only via the common file."""
    return shape_problems(script) + cli_call_problems(script)


# Task Scheduler keeps a run-as account's password itself (LSA secret), not in the task's
# definition: the one other place a plain-text password may go.
_PASSWORD_SINKS = {"register-scheduledtask", "set-scheduledtask"}


def _is_task_scheduler_password(script: Script, node: Node) -> bool:
    command = inside(node, "command")
    if command is None or command_name(script, command).lower() not in _PASSWORD_SINKS:
        return False
    value = command_arguments(script, command).get("password")
    return value is not None and core(value) == node


_PLAINTEXT_APIS = {"ptrtostringauto", "ptrtostringbstr", "ptrtostringuni", "securestringtobstr",
                   "securestringtoglobalallocunicode"}


def password_problems(script: Script) -> list[str]:
    """A plain-text password may only be assigned to $env:PGPASSWORD, restored in finally, or
    be the -Password of Register-ScheduledTask (Task Scheduler keeps it, not the task)."""
    problems = []
    for node in script.of_type("verbatim_string_characters", "expandable_string_literal",
                               "generic_token", "command_parameter"):
        text = script.text(node).lower()
        if "--password" in text or re.search(r"password\s*=", text):
            problems.append(f"{script.where(node)}: password on a command line or in a DSN: "
                            f"{script.text(node)[:60]!r}")
    for node in script.of_type("member_access", "invokation_expression"):
        member = (member_name(script, node) or "").lower()
        if member in _PLAINTEXT_APIS:
            problems.append(f"{script.where(node)}: plain-text password via {member}")
        if member not in ("password", "getnetworkcredential"):
            continue
        if node.parent.type in ("member_access", "invokation_expression"):
            continue  # judged at the outermost access, e.g. ...GetNetworkCredential().Password
        if _is_task_scheduler_password(script, node):
            continue
        assignment = inside(node, "assignment_expression")
        parts = assignment_parts(script, assignment) if assignment else None
        target = script.text(parts[0]).lower() if parts else ""
        if target != "$env:pgpassword" or core(parts[2]) != node:
            problems.append(f"{script.where(node)}: plain-text password flows into "
                            f"{target or 'an expression'}; "
                            "only `$env:PGPASSWORD = ...` may take it")
            continue
        guard = inside(assignment, "try_statement")
        final = (next((c for c in guard.children if c.type == "finally_clause"), None)
                 if guard else None)
        restores = final is not None and re.search(r"SetEnvironmentVariable|Remove-Item",
                                                   script.text(final), re.IGNORECASE)
        if not restores:
            problems.append(f"{script.where(node)}: $env:PGPASSWORD is not cleared "
                            "in a finally block")
    for cmd in script.of_type("command"):
        if (command_name(script, cmd).lower() == "convertfrom-securestring"
                and "asplaintext" in command_arguments(script, cmd)):
            problems.append(f"{script.where(cmd)}: ConvertFrom-SecureString -AsPlainText")
    return problems


def cli_subcommands() -> dict[str, dict]:
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices
    return {name: sub._option_string_actions for name, sub in choices.items()}


def cli_subcommand_of(script: Script) -> list[str]:
    """First element of every `$cliArgs = @('<command>', ...)`."""
    found = []
    for node in script.of_type("assignment_expression"):
        parts = assignment_parts(script, node)
        if not parts or parts[1] != "=" or variable_name(script, parts[0]) != "cliargs":
            continue
        literals = [n for n in script.of_type("string_literal", "variable", under=parts[2])]
        first = string_value(script, literals[0]) if literals else None
        found.append(first or f"<not a literal at {script.where(node)}>")
    return found


def option_literals(script: Script) -> list[tuple[str, Node]]:
    """Every string literal that is a `--option` (value after `=` dropped)."""
    found = []
    for node in script.of_type("string_literal"):
        value = string_value(script, node)
        if value is None:
            value = script.text(node).strip("'\"")
        if value.startswith("--"):
            found.append((value.split("=", 1)[0], node))
    return found


def option_problems(script: Script, subcommands: list[str]) -> list[str]:
    accepted = cli_subcommands()
    problems = [f"{script.path.name}: `pgreconcile {c}` does not exist"
                for c in subcommands if c not in accepted]
    for option, node in option_literals(script):
        for command in subcommands:
            if command in accepted and option not in accepted[command]:
                problems.append(f"{script.where(node)}: `pgreconcile {command}` has no {option}")
    return problems


# --------------------------------------------------------------------------- evaluation
class Unsupported(Exception):
    """A construct the argument evaluator does not model; fix the script or the evaluator."""


class ScriptThrew(Exception):
    pass


class ParameterRejected(Exception):
    """PowerShell would refuse this parameter set before the script runs."""


class _Return(Exception):
    pass


@dataclass
class _Unknown:
    reason: str


_CONFIRM_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}


@dataclass
class ArgumentEvaluator:
    """Runs the statements of a script that build an argument array for one parameter set.

    Parameters are bound as PowerShell would: unknown names, a parameter set that cannot be
    resolved, missing mandatory ones and values the Validate* attributes refuse raise
    ParameterRejected. `commands` model the few helpers the scripts call while building
    arguments. The array is `$cliArgs` (handed to Invoke-PgReconcileCli) unless `collect`
    names another one, e.g. `scriptArgs` of Register-MaintenanceTask.ps1; `executed` lists the
    other commands run, in order.

    ShouldProcess is modelled with its real rule: under -WhatIf it is false; otherwise it
    prompts when the script's ConfirmImpact is at least $ConfirmPreference (High unless the
    script or -Confirm changes it), and a prompt is answered with `confirmed`.
    """

    script: Script
    bound: dict[str, object]
    what_if: bool = False
    confirmed: bool = True
    commands: dict[str, Callable[..., object]] = field(default_factory=dict)
    collect: str = "cliargs"

    def run(self) -> list[list[str]]:
        """The argument lists passed to Invoke-PgReconcileCli, in order."""
        params = script_parameters(self.script)
        common = {k for k in self.bound if k.lower() == "confirm"}
        unknown = {k for k in self.bound if k.lower() not in params} - common
        if unknown:
            raise ParameterRejected(f"{self.script.path.name} has no parameter(s) "
                                    f"{sorted(unknown)}")
        bound_keys = {k.lower() for k in self.bound} - {"confirm"}
        self.parameter_set = self.resolve_set(params, bound_keys)
        for key, param in params.items():
            value = next((v for k, v in self.bound.items() if k.lower() == key), None)
            if value is None and param.mandatory_in(self.parameter_set):
                raise ParameterRejected(f"{self.script.path.name}: -{param.name} is mandatory")
            if value is not None and not param.is_switch:
                param.validate(value)
        self.bound_names = bound_keys | {k.lower() for k in common}  # $PSBoundParameters
        confirm = next((v for k, v in self.bound.items() if k.lower() == "confirm"), None)
        preference = "High" if confirm is None else ("Low" if confirm else "None")
        self.vars: dict[str, object] = {"true": True, "false": False, "null": None,
                                        "whatifpreference": self.what_if,
                                        "confirmpreference": preference}
        # Bound values first: a default may use them ($TaskName = "pgreconcile-$Database").
        self.vars.update({k.lower(): v for k, v in self.bound.items() if k.lower() != "confirm"})
        for key, param in params.items():
            if key in self.bound_names:
                continue
            if param.is_switch:
                self.vars[key] = False
            elif param.default is not None:
                try:
                    self.vars[key] = self.value(param.default)
                except Unsupported as exc:
                    self.vars[key] = _Unknown(str(exc))
            else:
                self.vars[key] = None
        self.calls: list[list[str]] = []
        self.executed: list[str] = []
        statements = next((c for c in self.script.root.children if c.type == "statement_list"),
                          None)
        try:
            if statements is not None:
                self.block(statements)
        except _Return:
            pass
        return self.calls

    def resolve_set(self, params: dict[str, ScriptParameter], bound: set[str]) -> str:
        declared = {s for p in params.values() for s in p.sets}
        if not declared:
            return ALL_SETS
        candidates = set(declared)
        for key in bound:
            if params[key].sets and ALL_SETS not in {s for s, _ in params[key].declarations}:
                candidates &= params[key].sets
        if not candidates:
            raise ParameterRejected(f"{self.script.path.name}: parameter set cannot be resolved "
                                    f"from {sorted(bound)}")
        if len(candidates) == 1:
            return candidates.pop()
        default = binding_setting(self.script, "DefaultParameterSetName")
        if default in candidates:
            return default
        raise ParameterRejected(f"{self.script.path.name}: ambiguous parameter set {candidates}")

    def collected(self) -> list[str]:
        """The final value of the collected array, as strings."""
        return [str(v) for v in self.flatten(self.lookup(self.collect))]

    # -- statements -----------------------------------------------------------
    def touches_cli(self, node: Node) -> bool:
        s = self.script
        return any(assigns_to(s, n, self.collect) for n in s.of_type("assignment_expression",
                                                                     under=node)) or any(
            command_name(s, c).lower() == "invoke-pgreconcilecli"
            for c in s.of_type("command", under=node))

    def block(self, statements: Node) -> None:
        for statement in statements.named_children:
            self.statement(statement)

    def body(self, node: Node) -> None:
        """The statement_list of a statement_block (or of a clause holding one)."""
        block = node if node.type == "statement_block" else next(
            c for c in node.children if c.type == "statement_block")
        statements = next((c for c in block.children if c.type == "statement_list"), None)
        if statements is not None:
            self.block(statements)

    def statement(self, node: Node) -> None:
        s = self.script
        if node.type == "comment":
            return
        if node.type == "if_statement":
            return self.if_statement(node)
        if node.type == "try_statement":
            return self.try_statement(node)
        if node.type == "flow_control_statement":
            keyword = node.children[0].type
            if keyword == "throw":
                raise ScriptThrew(s.text(node))
            if keyword in ("return", "exit"):
                raise _Return()
            raise Unsupported(f"{s.where(node)}: {keyword}")
        inner = core(node)
        if inner.type == "assignment_expression":
            return self.assignment(inner)
        if inner.type == "command":
            name = command_name(s, inner).lower()
            if name in ("begin", "process", "end"):
                body = next(s.of_type("script_block_body", under=inner), None)
                if body is not None:
                    self.block(next(c for c in body.children if c.type == "statement_list"))
                return
            if name == "invoke-pgreconcilecli":
                self.call_cli(inner)
                return
            dot_sourced = any(c.type == "command_invokation_operator" for c in inner.children)
            if name and not dot_sourced:
                self.executed.append(command_name(s, inner))
        if self.touches_cli(node):
            raise Unsupported(f"{s.where(node)}: {node.type} around the CLI arguments")

    def try_statement(self, node: Node) -> None:
        """The try block as if nothing threw (catch blocks skipped), then finally."""
        final = next((c for c in node.children if c.type == "finally_clause"), None)
        try:
            self.body(next(c for c in node.children if c.type == "statement_block"))
        finally:
            if final is not None:
                self.body(final)

    def call_cli(self, command: Node) -> _Unknown:
        value = self.value(command_arguments(self.script, command)["arguments"])
        self.calls.append([str(v) for v in self.flatten(value)])
        return _Unknown("the CLI's result")

    def if_statement(self, node: Node) -> None:
        s = self.script
        branches: list[tuple[Node | None, Node]] = []
        children = node.children
        condition = next(c for c in children if c.type == "pipeline")
        branches.append((condition, next(c for c in children if c.type == "statement_block")))
        for clause in s.of_type("elseif_clause", under=node):
            if clause.parent.parent != node:
                continue
            branches.append((next(c for c in clause.children if c.type == "pipeline"),
                             next(c for c in clause.children if c.type == "statement_block")))
        else_clause = next((c for c in children if c.type == "else_clause"), None)
        if else_clause is not None:
            branches.append((None, next(c for c in else_clause.children
                                        if c.type == "statement_block")))
        matters = self.touches_cli(node) or any(
            True for _ in s.of_type("flow_control_statement", under=node))
        for condition, body in branches:
            try:
                taken = condition is None or self.truthy(self.value(condition))
            except Unsupported:
                if matters:
                    raise
                return
            if taken:
                self.body(body)
                return

    def assignment(self, node: Node) -> None:
        left, op, right = assignment_parts(self.script, node)
        name = variable_name(self.script, left)
        if name is None or ":" in name or name == "null":
            if core(right).type == "command":  # `$null = New-Item ...` still runs it
                self.executed.append(command_name(self.script, core(right)))
            return  # $env:..., members, $null: not part of the arguments
        if name == self.collect:
            value = self.flatten(self.value(right))
            if op == "=":
                self.vars[name] = value
            elif op == "+=":
                self.vars[name] = self.flatten(self.lookup(name)) + value
            else:
                raise Unsupported(f"{self.script.where(node)}: ${self.collect} {op}")
            return
        try:
            self.vars[name] = self.value(right)
        except Unsupported as exc:
            self.vars[name] = _Unknown(str(exc))

    # -- expressions ----------------------------------------------------------
    def lookup(self, name: str) -> object:
        if name not in self.vars:
            raise Unsupported(f"${name} is not set where the CLI arguments use it")
        value = self.vars[name]
        if isinstance(value, _Unknown):
            raise Unsupported(f"${name}: {value.reason}")
        return value

    @staticmethod
    def flatten(value: object) -> list:
        if isinstance(value, list):
            return [x for v in value for x in ArgumentEvaluator.flatten(v)]
        return [value]

    @staticmethod
    def truthy(value: object) -> bool:
        return bool(value) if not isinstance(value, list) else len(value) > 0

    def value(self, node: Node) -> object:
        s = self.script
        node = core(node)
        kind = node.type
        text = s.text(node)
        if kind == "string_literal":
            value = string_value(s, node)
            if value is None:
                return self.expand(node.named_children[0])
            return value
        if kind == "generic_token":  # a bareword argument: -PathType Leaf
            return text
        if kind == "integer_literal":
            return int(text)
        if kind == "variable":
            return self.lookup(variable_name(s, node))
        if kind == "array_expression":
            inner = next((c for c in node.children if c.type == "statement_list"), None)
            return [] if inner is None else self.flatten(self.value(inner))
        if kind == "array_literal_expression":
            return [self.value(c) for c in node.named_children]
        if kind == "expression_with_unary_operator":
            op = node.children[0].type
            if op in ("-not", "!"):
                return not self.truthy(self.value(node.named_children[-1]))
            raise Unsupported(f"{s.where(node)}: unary {op}")
        if kind == "comparison_expression" and len(node.named_children) == 3:
            left, op, right = node.named_children
            if s.text(op).lower() == "-join":
                return str(self.value(right)).join(
                    str(v) for v in self.flatten(self.value(left)))
            return self.compare(s.text(op).lower(), self.value(left), self.value(right))
        if kind == "additive_expression" and len(node.children) == 3:
            left, op, right = node.children
            if s.text(op) == "+":
                return self.add(self.value(left), self.value(right))
        if kind == "logical_expression":
            ops = [c.type for c in node.children if not c.is_named]
            if ops and ops[0] in ("-and", "-or"):
                left, right = node.named_children
                if ops[0] == "-and":
                    return self.truthy(self.value(left)) and self.truthy(self.value(right))
                return self.truthy(self.value(left)) or self.truthy(self.value(right))
        if kind == "invokation_expression":
            return self.invoke(node)
        if kind == "member_access":
            if (variable_name(s, node.named_children[0]) == "pscmdlet"
                    and (member_name(s, node) or "").lower() == "parametersetname"):
                return self.parameter_set
        if kind == "command":
            name = command_name(s, node).lower()
            if name == "invoke-pgreconcilecli":
                return self.call_cli(node)
            if name in self.commands:
                args = {k: (True if v is None else self.value(v))
                        for k, v in command_arguments(s, node).items()}
                return self.commands[name](**args)
            self.executed.append(command_name(s, node))
        raise Unsupported(f"{s.where(node)}: cannot evaluate {kind} {text[:60]!r}")

    def expand(self, node: Node) -> str:
        """"text $name text": plain variables only (no $(...), no members)."""
        s = self.script
        if node.type != "expandable_string_literal" or any(
                c.type != "variable" for c in node.named_children):
            raise Unsupported(f"{s.where(node)}: string with expansions {s.text(node)!r}")
        out, at = [], node.start_byte + 1
        for child in node.named_children:
            out.append(s.source[at:child.start_byte].decode())
            out.append(str(self.value(child)))
            at = child.end_byte
        out.append(s.source[at:node.end_byte - 1].decode())
        return "".join(out).replace('`"', '"').replace("``", "`")

    @staticmethod
    def add(left: object, right: object) -> object:
        if isinstance(left, list):
            return left + ArgumentEvaluator.flatten(right)
        if isinstance(left, str):
            return left + str(right)
        if isinstance(left, int) and isinstance(right, int):
            return left + right
        raise Unsupported(f"{left!r} + {right!r}")

    def should_process(self) -> bool:
        if self.what_if:
            return False
        impact = binding_setting(self.script, "ConfirmImpact") or "Medium"
        preference = str(self.lookup("confirmpreference"))
        prompts = (_CONFIRM_RANK[preference.lower()] > 0
                   and _CONFIRM_RANK[impact.lower()] >= _CONFIRM_RANK[preference.lower()])
        return self.confirmed or not prompts

    def invoke(self, node: Node) -> object:
        s = self.script
        target = variable_name(s, node.named_children[0])
        method = (member_name(s, node) or "").lower()
        arg_list = next((c for c in node.children if c.type == "argument_list"), None)
        args = [] if arg_list is None else [
            a for a in s.of_type("argument_expression", under=arg_list)
            if a.parent.parent == arg_list]
        if target == "psboundparameters" and method == "containskey":
            return str(self.value(args[0])).lower() in self.bound_names
        if target == "pscmdlet" and method == "shouldprocess":
            return self.should_process()
        raise Unsupported(f"{s.where(node)}: cannot evaluate {s.text(node)[:60]!r}")

    @staticmethod
    def compare(op: str, left: object, right: object) -> bool:
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.lower(), right.lower()
        elif isinstance(left, (int, bool)) or isinstance(right, (int, bool)):
            left, right = int(left or 0), int(right or 0)
        table = {"-eq": left == right, "-ne": left != right}
        if op in table:
            return table[op]
        if op in ("-gt", "-ge", "-lt", "-le"):
            return {"-gt": left > right, "-ge": left >= right, "-lt": left < right,
                    "-le": left <= right}[op]
        raise Unsupported(f"comparison {op}")


def pg_conninfo(server: str, port: int = 5432, database: str | None = None) -> str:
    """What ConvertTo-PgConnInfo in PgReconcile.Common.ps1 builds (libpq quoting)."""
    pairs = {"host": server, "port": str(port)}
    if database:
        pairs["dbname"] = database
    return " ".join("{}='{}'".format(k, v.replace("\\", "\\\\").replace("'", "\\'"))
                    for k, v in pairs.items())


def cli_path(path: str) -> str:
    """What Resolve-PgReconcilePath returns (full path, no trailing separator)."""
    return re.sub(r"(?<=[^:\\/])[\\/]+$", "", os.path.abspath(path))


RUN_STAMP = "20250104T010000Z"  # what the modelled Get-PgReconcileStamp returns


def _test_path(path=None, literalpath=None, pathtype=None) -> bool:
    target = Path(literalpath or path)
    kind = (pathtype or "Any").lower()
    return {"leaf": target.is_file, "container": target.is_dir}.get(kind, target.exists)()


# PgReconcile.Common.ps1's helpers and the cmdlets the scripts use while building arguments.
MODELLED_COMMANDS: dict[str, Callable[..., object]] = {
    "convertto-pgconninfo": lambda server, port=5432, database=None:
        pg_conninfo(server, port, database),
    "resolve-pgreconcilepath": lambda path: cli_path(path),
    "resolve-pgreconcilecli": lambda path="pgreconcile": path,
    "get-pgreconcilestamp": lambda: RUN_STAMP,
    "import-pgreconcilecredential": lambda path: f"<credential read from {path}>",
    "join-path": lambda path, childpath: os.path.join(path, childpath),
    "test-path": _test_path,
}


def evaluator(script: Script, bound: dict, *, what_if: bool = False, confirmed: bool = True,
              collect: str = "cliargs", extra: dict | None = None) -> ArgumentEvaluator:
    return ArgumentEvaluator(script, bound, what_if=what_if, confirmed=confirmed,
                             commands={**MODELLED_COMMANDS, **(extra or {})}, collect=collect)


def evaluate(script: Script, bound: dict, *, what_if: bool = False,
             confirmed: bool = True) -> list[list[str]]:
    return evaluator(script, bound, what_if=what_if, confirmed=confirmed).run()


def only_call(script: Script, bound: dict, **kwargs) -> list[str]:
    calls = evaluate(script, bound, **kwargs)
    assert len(calls) == 1, f"{script.path.name} makes {len(calls)} CLI calls for {bound}"
    return calls[0]


def parse_cli(arguments: list[str]):
    try:
        return build_parser().parse_args([*arguments, "--json"])
    except SystemExit as exc:  # argparse already printed why
        pytest.fail(f"the CLI rejects {arguments}: exit {exc.code}")


# --------------------------------------------------------------------------- fixtures
SCRIPT_PATHS = sorted(SCRIPTS.glob("*.ps1"))
WRAPPER_PATHS = [p for p in SCRIPT_PATHS if p.name != COMMON]
# Scripts that do not run pgreconcile (they set up something that does).
NOT_CLI = {"Register-MaintenanceTask.ps1"}
CLI_WRAPPER_PATHS = [p for p in WRAPPER_PATHS if p.name not in NOT_CLI]


def _ids(paths):
    return [p.name for p in paths]


@pytest.fixture(scope="module")
def backup_script() -> Script:
    return Script.load(SCRIPTS / "Backup-Db.ps1")


@pytest.fixture(scope="module")
def restore_script() -> Script:
    return Script.load(SCRIPTS / "Restore-Db.ps1")


@pytest.fixture(scope="module")
def common_script() -> Script:
    return Script.load(SCRIPTS / COMMON)


@pytest.fixture(scope="module")
def invoke_script() -> Script:
    return Script.load(SCRIPTS / "Invoke-Reconcile.ps1")


@pytest.fixture(scope="module")
def register_script() -> Script:
    return Script.load(SCRIPTS / "Register-MaintenanceTask.ps1")


def test_the_wrappers_this_stage_needs_exist():
    assert {"Backup-Db.ps1", "Restore-Db.ps1", "Invoke-Reconcile.ps1",
            "Register-MaintenanceTask.ps1", COMMON} <= {p.name for p in SCRIPT_PATHS}


# --------------------------------------------------------------------------- syntax
@pytest.mark.parametrize("path", SCRIPT_PATHS, ids=_ids(SCRIPT_PATHS))
def test_script_parses_with_powershell_grammar(path):
    problems = syntax_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("snippet, line", [
    ("param([string]$Name)\n\nif ($Name) {\n    Write-Output $Name\n", 3),
    ("$list = @('a',\n  'b'\n$x = 1\n", 1),
    ("function Get-Thing {\n    param([int]$Count\n    $Count\n}\n", 2),
], ids=["unclosed-if", "unclosed-array", "unclosed-param"])
def test_syntax_check_flags_a_broken_script(tmp_path, snippet, line):
    broken = Script.from_text(tmp_path, "Broken.ps1", snippet)
    problems = syntax_problems(broken)
    assert problems
    assert any(p.startswith("Broken.ps1:") for p in problems)
    assert min(int(p.split(":")[1]) for p in problems) <= line + 1


# --------------------------------------------------------------------------- shape
@pytest.mark.parametrize("path", WRAPPER_PATHS, ids=_ids(WRAPPER_PATHS))
def test_wrapper_has_help_for_every_parameter_and_working_examples(path):
    problems = help_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", WRAPPER_PATHS, ids=_ids(WRAPPER_PATHS))
def test_script_supports_whatif_stops_on_error_and_runs_no_cli_by_hand(path):
    problems = shape_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CLI_WRAPPER_PATHS, ids=_ids(CLI_WRAPPER_PATHS))
def test_wrapper_calls_cli_through_common(path):
    problems = cli_call_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(NOT_CLI))
def test_scripts_that_do_not_call_the_cli_really_do_not(name):
    script = Script.load(SCRIPTS / name)
    assert not [c for c in script.of_type("command")
                if command_name(script, c).lower() == "invoke-pgreconcilecli"]
    assert not cli_subcommand_of(script)
    assert not [option for option, _ in option_literals(script)], "passes CLI options"


def test_help_check_flags_stale_help(tmp_path):
    stale = Script.from_text(tmp_path, "Get-Stale.ps1", """<#
.SYNOPSIS
    Stale.
.PARAMETER Gone
    Removed long ago.
.EXAMPLE
    PS C:\\> .\\Get-Stale.ps1 -Name x -Colour red
#>
[CmdletBinding()]
param([string]$Name, [int]$Count)
""")
    problems = "\n".join(help_problems(stale))
    for expected in (".DESCRIPTION", "no .PARAMETER Name", "no .PARAMETER Count",
                     ".PARAMETER gone documents no parameter", "unknown -colour"):
        assert expected in problems


def test_wrapper_check_flags_a_script_that_bypasses_the_common_file(tmp_path):
    rogue = Script.from_text(tmp_path, "Invoke-Rogue.ps1", """[CmdletBinding()]
param([string]$Database)
& pgreconcile backup --dsn "dbname=$Database" --json
""")
    problems = "\n".join(wrapper_problems(rogue))
    for expected in ("lacks SupportsShouldProcess", "ErrorActionPreference", "dot-source",
                     "never calls Invoke-PgReconcileCli", "runs pgreconcile directly"):
        assert expected in problems


# --------------------------------------------------------------------------- secrets
@pytest.mark.parametrize("path", SCRIPT_PATHS, ids=_ids(SCRIPT_PATHS))
def test_no_password_on_a_command_line(path):
    problems = password_problems(Script.load(path))
    assert not problems, "\n".join(problems)


def test_common_file_is_the_one_place_that_sets_pgpassword(common_script):
    assignments = [a for a in common_script.of_type("assignment_expression")
                   if common_script.text(assignment_parts(common_script, a)[0]).lower()
                   == "$env:pgpassword"]
    assert len(assignments) == 1
    saved = {string_value(common_script, n) for n in common_script.of_type("string_literal")}
    assert {"PGUSER", "PGPASSWORD"} <= saved  # restored (or removed) in finally


def test_password_check_flags_leaks(tmp_path):
    leaky = Script.from_text(tmp_path, "Leaky.ps1", """param($Credential)
$plain = $Credential.GetNetworkCredential().Password
& pgreconcile backup --password $plain
$dsn = "host=db password=$($Credential.GetNetworkCredential().Password)"
$env:PGPASSWORD = $Credential.GetNetworkCredential().Password
""")
    problems = password_problems(leaky)
    lines = sorted({int(p.split(":")[1]) for p in problems})
    assert lines == [2, 3, 4, 5], "\n".join(problems)  # line 5: never cleared in finally


# --------------------------------------------------------------------------- CLI contract
@pytest.mark.parametrize("path", CLI_WRAPPER_PATHS, ids=_ids(CLI_WRAPPER_PATHS))
def test_wrapper_passes_only_options_the_cli_accepts(path, common_script):
    script = Script.load(path)
    subcommands = cli_subcommand_of(script)
    assert subcommands, f"{path.name}: no `$cliArgs = @('<command>', ...)`"
    problems = option_problems(script, subcommands) + option_problems(common_script, subcommands)
    assert not problems, "\n".join(problems)


def test_option_check_flags_options_the_cli_lacks(tmp_path):
    wrong = Script.from_text(tmp_path, "Backup-Wrong.ps1", """param([switch]$Fast)
$cliArgs = @('backup', '--out-dir', 'x')
if ($Fast) { $cliArgs += @('--parallel', 8) }
""")
    assert cli_subcommand_of(wrong) == ["backup"]
    problems = option_problems(wrong, ["backup"])
    assert problems == ["Backup-Wrong.ps1:3: `pgreconcile backup` has no --parallel"]
    unknown_command = "Backup-Wrong.ps1: `pgreconcile backups` does not exist"
    assert option_problems(wrong, ["backups"]) == [unknown_command]


def fields_read_from_cli_document(common: Script) -> set[str]:
    """Members Invoke-PgReconcileCli reads from the parsed JSON (`$document.<name>`)."""
    read = {member_name(common, n) for n in common.of_type("member_access")
            if variable_name(common, n.named_children[0]) == "document"}
    return read - {"PSObject"}


def test_common_file_reads_the_error_document_fields(common_script):
    assert fields_read_from_cli_document(common_script) == {"error", "message", "hint"}


BACKUP_BASE = {"Database": "pettycash", "OutDir": "backups/"}
BIN_DIR = str(Path(sys.executable).parent)  # -PgBinDir must exist (ValidateScript)


@pytest.mark.parametrize("bound, what_if, expect", [
    (BACKUP_BASE, False, {"format": "custom", "jobs": 1, "keep": None, "test_restore": False,
                          "dry_run": False, "pg_bin_dir": None}),
    ({**BACKUP_BASE, "SqlInstance": "db01", "Port": 5433, "Format": "directory", "Jobs": 4,
      "TestRestore": True, "Keep": 7, "PgBinDir": BIN_DIR}, False,
     {"format": "directory", "jobs": 4, "keep": 7, "test_restore": True, "dry_run": False,
      "pg_bin_dir": BIN_DIR}),
    ({**BACKUP_BASE, "Keep": 3}, True, {"dry_run": True, "keep": 3}),
], ids=["defaults", "every-option", "whatif"])
def test_backup_db_builds_arguments_the_cli_parses(backup_script, bound, what_if, expect):
    arguments = only_call(backup_script, bound, what_if=what_if)
    ns = parse_cli(arguments)
    assert ns.command == "backup"
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 bound["Database"])
    assert ns.out_dir == cli_path(bound["OutDir"]) and not ns.out_dir.endswith("/")
    for key, value in expect.items():
        assert getattr(ns, key) == value, key


@pytest.mark.parametrize("bound, reason", [
    ({"OutDir": "backups"}, "-Database is mandatory"),
    ({**BACKUP_BASE, "Database": "pettycash; DROP DATABASE pettycash"}, "does not match"),
    ({**BACKUP_BASE, "Database": "x" * 64}, "does not match"),
    ({**BACKUP_BASE, "Format": "tar"}, "is not one of"),
    ({**BACKUP_BASE, "Port": 70000}, "outside"),
    ({**BACKUP_BASE, "Keep": 0}, "outside"),
    ({**BACKUP_BASE, "Password": "secret"}, "no parameter"),
], ids=["no-database", "injection", "name-too-long", "bad-format", "bad-port", "keep-zero",
        "password-parameter"])
def test_backup_db_parameter_validation_refuses_bad_values(backup_script, bound, reason):
    with pytest.raises(ParameterRejected, match=reason):
        evaluate(backup_script, bound)


def test_backup_db_declined_confirmation_calls_nothing(backup_script):
    # ConfirmImpact Medium: no prompt by default; with -Confirm, a "no" calls nothing.
    assert len(evaluate(backup_script, BACKUP_BASE, confirmed=False)) == 1
    assert evaluate(backup_script, {**BACKUP_BASE, "Confirm": True}, confirmed=False) == []


def test_backup_db_refuses_parallel_jobs_into_one_file(backup_script):
    with pytest.raises(ScriptThrew, match="Format directory"):
        evaluate(backup_script, {**BACKUP_BASE, "Jobs": 2})


RESTORE_BASE = {"Path": "backups/pettycash.dump", "Database": "pettycash_copy"}


@pytest.mark.parametrize("bound, what_if, expect", [
    (RESTORE_BASE, False, {"replace": False, "jobs": 1, "no_owner": False, "dry_run": False,
                           "backup_dir": None}),
    ({**RESTORE_BASE, "Replace": True, "Jobs": 4, "NoOwner": True, "BackupDir": "before",
      "PgBinDir": BIN_DIR, "SqlInstance": "db01", "Port": 5433}, False,
     {"replace": True, "jobs": 4, "no_owner": True, "dry_run": False,
      "backup_dir": cli_path("before/"), "pg_bin_dir": BIN_DIR}),
    ({**RESTORE_BASE, "Replace": True}, True, {"replace": True, "dry_run": True}),
], ids=["defaults", "every-option", "whatif"])
def test_restore_db_builds_arguments_the_cli_parses(restore_script, bound, what_if, expect):
    arguments = only_call(restore_script, bound, what_if=what_if)
    ns = parse_cli(arguments)
    assert ns.command == "restore"
    assert ns.path == os.path.abspath(bound["Path"])
    assert ns.target_db == bound["Database"]
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 "postgres")
    for key, value in expect.items():
        assert getattr(ns, key) == value, key


# --------------------------------------------------------------------------- Invoke-Reconcile
RECONCILE_BASE = {"Database": "pettycash", "ProjectDir": str(EXAMPLE)}


def reconcile_subparser():
    return build_parser()._subparsers._group_actions[0].choices["reconcile"]


def run_folder(report_dir: str = "reports", database: str = "pettycash") -> str:
    """Where Invoke-Reconcile.ps1 sends one run's reports."""
    return os.path.join(cli_path(report_dir), f"{database}-{RUN_STAMP}")


@pytest.mark.parametrize("bound, what_if, expect", [
    (RECONCILE_BASE, False,
     {"dry_run": False, "pk_strategy": "keep", "backfill": "stable", "rollback": "reverse",
      "allow_destructive": False, "maintenance_window": None, "no_backup": False, "keep": 7,
      "settings": None, "python": None, "run_tests": False, "lock_timeout": "2s",
      "no_test_restore": False}),
    ({**RECONCILE_BASE, "Check": True}, False, {"dry_run": True, "allow_destructive": False}),
    (RECONCILE_BASE, True, {"dry_run": True}),
    ({**RECONCILE_BASE, "AllowDestructive": True, "PkStrategy": "swap"}, False,
     {"dry_run": False, "pk_strategy": "swap", "allow_destructive": True}),
    ({**RECONCILE_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 UTC"]}, False,
     {"maintenance_window": "Sat 01:00-03:00 UTC", "dry_run": False}),
    ({**RECONCILE_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 UTC",
                                              "Mon-Fri 22:00-23:30 Europe/Berlin"]}, False,
     {"maintenance_window": "Sat 01:00-03:00 UTC; Mon-Fri 22:00-23:30 Europe/Berlin"}),
    ({**RECONCILE_BASE, "SqlInstance": "db01", "Port": 5433, "Settings":
      "pettycash_system.settings", "Python": sys.executable, "Backfill": "random",
      "BackupDir": "D/backups/", "Keep": 3, "NoBackup": True, "NoTestRestore": True,
      "ReportDir": "runs", "RunTests": True, "TestSettings": "staging_settings",
      "LockTimeout": "500ms", "BatchSize": 500, "BatchDelay": "0.5", "Rollback": "restore",
      "PgBinDir": BIN_DIR}, False,
     {"settings": "pettycash_system.settings", "python": sys.executable, "backfill": "random",
      "keep": 3, "no_backup": True, "no_test_restore": True, "run_tests": True,
      "test_settings": "staging_settings", "lock_timeout": "500ms", "batch_size": 500,
      "batch_delay": 0.5, "rollback": "restore", "pg_bin_dir": BIN_DIR, "dry_run": False}),
], ids=["defaults", "check", "whatif", "destructive-swap", "window", "two-windows",
        "every-option"])
def test_invoke_reconcile_builds_arguments_the_cli_parses(invoke_script, bound, what_if, expect):
    arguments = only_call(invoke_script, bound, what_if=what_if)
    ns = parse_cli(arguments)
    assert ns.command == "reconcile"
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 bound["Database"])
    assert ns.project_dir == str(EXAMPLE)
    assert ns.out_dir == cli_path(bound.get("BackupDir", "backups"))
    assert ns.report_dir == run_folder(bound.get("ReportDir", "reports"))
    for key, value in expect.items():
        assert getattr(ns, key) == value, key
    if ns.maintenance_window:
        assert MaintenanceWindows.parse(ns.maintenance_window) is not None


def test_invoke_reconcile_check_is_whatif(invoke_script):
    assert (evaluate(invoke_script, {**RECONCILE_BASE, "Check": True})
            == evaluate(invoke_script, RECONCILE_BASE, what_if=True))


def output_types(script: Script) -> set[str]:
    block = param_block(script)
    return {string_value(script, a)
            for attribute in script.of_type("attribute", under=block)
            if script.text(attribute).lstrip("[").lower().startswith("outputtype")
            for a in script.of_type("attribute_argument", under=attribute)}


@pytest.mark.parametrize("bound, what_if, type_name", [
    (RECONCILE_BASE, False, "PgReconcile.Report"),
    ({**RECONCILE_BASE, "Check": True}, False, "PgReconcile.ReconcilePlan"),
    (RECONCILE_BASE, True, "PgReconcile.ReconcilePlan"),
], ids=["run", "check", "whatif"])
def test_invoke_reconcile_returns_typed_reports(invoke_script, bound, what_if, type_name):
    s = invoke_script
    assert binding_setting(s, "ConfirmImpact") == "Medium"  # High with -AllowDestructive
    assert output_types(s) == {"PgReconcile.Report", "PgReconcile.ReconcilePlan"}
    run = evaluator(s, bound, what_if=what_if)
    run.run()
    assert run.vars["typename"] == type_name
    call = next(c for c in s.of_type("command") if command_name(s, c) == "Invoke-PgReconcileCli")
    assert variable_name(s, command_arguments(s, call)["typename"]) == "typename"


def test_invoke_reconcile_value_sets_are_the_clis_choices(invoke_script):
    params = script_parameters(invoke_script)
    options = reconcile_subparser()._option_string_actions
    for name, option in {"pkstrategy": "--pk-strategy", "backfill": "--backfill",
                         "rollback": "--rollback"}.items():
        assert sorted(params[name].choices) == sorted(options[option].choices), name
        default = ArgumentEvaluator(invoke_script, {}).value(params[name].default)
        assert default == options[option].default, name


@pytest.mark.parametrize("bound, confirmed, calls", [
    (RECONCILE_BASE, False, 1),  # Medium: no prompt
    ({**RECONCILE_BASE, "Confirm": True}, False, 0),
    ({**RECONCILE_BASE, "AllowDestructive": True}, False, 0),  # High: asked, declined
    ({**RECONCILE_BASE, "AllowDestructive": True}, True, 1),
    ({**RECONCILE_BASE, "AllowDestructive": True, "Force": True}, False, 1),
    ({**RECONCILE_BASE, "AllowDestructive": True, "Confirm": False}, False, 1),
    ({**RECONCILE_BASE, "AllowDestructive": True, "Force": True, "Confirm": True}, False, 0),
    ({**RECONCILE_BASE, "AllowDestructive": True, "Check": True}, False, 1),  # a dry run
], ids=["default", "confirm-declined", "destructive-declined", "destructive-confirmed",
        "destructive-force", "destructive-confirm-false", "force-but-confirm", "check"])
def test_invoke_reconcile_asks_before_destructive_runs(invoke_script, bound, confirmed, calls):
    assert len(evaluate(invoke_script, bound, confirmed=confirmed)) == calls


@pytest.mark.parametrize("bound, reason", [
    ({"Database": "pettycash"}, "-ProjectDir is mandatory"),
    ({**RECONCILE_BASE, "Database": "pettycash; DROP DATABASE x"}, "does not match"),
    ({**RECONCILE_BASE, "PkStrategy": "drop"}, "is not one of"),
    ({**RECONCILE_BASE, "Backfill": "uuid4"}, "is not one of"),
    ({**RECONCILE_BASE, "Rollback": "ignore"}, "is not one of"),
    ({**RECONCILE_BASE, "LockTimeout": "soon"}, "does not match"),
    ({**RECONCILE_BASE, "BatchDelay": "0,5"}, "does not match"),
    ({**RECONCILE_BASE, "BatchSize": 0}, "outside"),
    ({**RECONCILE_BASE, "Settings": "x; rm -rf"}, "does not match"),
    ({**RECONCILE_BASE, "MaintenanceWindow": ["whenever"]}, "does not match"),
    ({**RECONCILE_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 UTC", "--allow-destructive"]},
     "does not match"),
    ({**RECONCILE_BASE, "Credential": "c", "CredentialPath": "c.xml"}, "parameter set"),
    ({**RECONCILE_BASE, "Password": "secret"}, "no parameter"),
], ids=["no-project", "injection", "pk-strategy", "backfill", "rollback", "lock-timeout",
        "batch-delay-comma", "batch-size", "settings", "window", "window-option",
        "two-credentials", "password-parameter"])
def test_invoke_reconcile_parameter_validation_refuses_bad_values(invoke_script, bound, reason):
    with pytest.raises(ParameterRejected, match=reason):
        evaluate(invoke_script, bound)


def test_invoke_reconcile_reads_a_credential_file_for_unattended_runs(invoke_script, tmp_path):
    credential_file = tmp_path / "pettycash.credential.xml"
    credential_file.write_text("<Objs/>")
    run = evaluator(invoke_script, {**RECONCILE_BASE, "CredentialPath": str(credential_file),
                                    "LogDir": str(tmp_path / "logs"), "Force": True},
                    confirmed=False)
    [arguments] = run.run()
    assert run.parameter_set == "CredentialFile"
    assert run.vars["credential"] == f"<credential read from {credential_file}>"
    call = next(c for c in invoke_script.of_type("command")
                if command_name(invoke_script, c) == "Invoke-PgReconcileCli")
    assert variable_name(invoke_script, command_arguments(invoke_script, call)["credential"]) \
        == "credential"
    assert not any("credential" in a.lower() or "password" in a.lower() for a in arguments)
    # The transcript starts before the CLI runs and is stopped in finally.
    assert run.executed.index("Start-Transcript") < run.executed.index("Stop-Transcript")


def test_common_error_carries_exit_code_hint_and_document(common_script):
    stored = {}
    for node in common_script.of_type("assignment_expression"):
        left, _, right = assignment_parts(common_script, node)
        match = re.fullmatch(r"\$exception\.Data\['(\w+)'\]", common_script.text(left))
        if match:
            stored[match.group(1)] = common_script.text(right)
    assert stored == {"ExitCode": "$exitCode", "Hint": "$hint", "Document": "$document"}


def test_invoke_reconcile_rethrows_cli_errors_with_the_run_report(invoke_script):
    """Exit 3/4 stay terminating errors with the CLI's message and hint (the same record is
    rethrown), and carry the path and content of the failed run's report.json."""
    s = invoke_script
    call = next(c for c in s.of_type("command") if command_name(s, c) == "Invoke-PgReconcileCli")
    guard = inside(call, "try_statement")
    catch = next(s.of_type("catch_clause", under=guard))
    body = s.text(catch)
    assert "Data['ReportPath'] = $reportFile" in body and "Data['Report'] =" in body
    statements = next(s.of_type("statement_list", under=catch)).named_children
    assert s.text(statements[-1]) == "$PSCmdlet.ThrowTerminatingError($failure)"
    assert any(s.text(st) == "$failure = $_" for st in statements)
    # $reportFile is report.json inside the folder given to --report-dir.
    run = evaluator(s, RECONCILE_BASE)
    [arguments] = run.run()
    assert run.vars["reportfile"] == os.path.join(
        arguments[arguments.index("--report-dir") + 1], "report.json")


# --------------------------------------------------------------------- Register-MaintenanceTask
REGISTER_BASE = {"Database": "pettycash", "ProjectDir": str(EXAMPLE),
                 "MaintenanceWindow": ["Sat 01:00-03:00 UTC"], "BackupDir": "backups",
                 "LogDir": "logs"}

WINDOWS_OK = ["Sat 01:00-03:00 UTC", "sat 1:00-3:00", "Mon-Fri 22:00-23:30 UTC",
              "Sat,Sun 02:00-04:00", "Fri-Mon 23:00-01:30 UTC", "daily 23:30-00:30",
              "Saturday 01:00-03:00 UTC", "  Sat 01:00 - 03:00  UTC ", "Sun 22:00-24:00 UTC",
              "Mon-Wed,Fri 00:00-00:15 utc"]
WINDOWS_BAD = ["", "garbage", "Sat", "Sat 01:00", "Sat 1-3", "01:00-03:00 UTC",
               "Sat 25:00-26:00 UTC", "Sat 01:60-03:00", "Xyz 01:00-03:00",
               "Sat 01:00-24:30 UTC", "Sat 01:00-03:00 Europe/Berlin",
               "Sat 01:00-03:00 UTC; Sun 01:00-03:00 UTC", "Sat 01:00-03:00 UTC -AllowDestructive",
               'Sat 01:00-03:00" -AllowDestructive "', "Sat 01:00-03:00 UTC\n-Force"]


def window_pattern(script: Script) -> str:
    return script_parameters(script)["maintenancewindow"].pattern


@pytest.mark.parametrize("window", WINDOWS_OK)
def test_register_task_window_pattern_accepts_windows_the_cli_reads(register_script,
                                                                    invoke_script, window):
    assert re.search(window_pattern(register_script), window, re.IGNORECASE)
    assert re.search(window_pattern(invoke_script), window, re.IGNORECASE)
    Window.parse(window)  # the CLI reads it too


@pytest.mark.parametrize("window", WINDOWS_BAD)
def test_register_task_window_pattern_rejects_garbage(register_script, window):
    assert not re.search(window_pattern(register_script), window, re.IGNORECASE)


def test_windows_joined_for_the_task_are_one_valid_invoke_reconcile_value(invoke_script):
    joined = "; ".join(WINDOWS_OK)
    assert re.search(window_pattern(invoke_script), joined, re.IGNORECASE)
    assert len(MaintenanceWindows.parse(joined).windows) == len(WINDOWS_OK)


def should_process_guard(script: Script, node: Node) -> Node | None:
    """The `if ($PSCmdlet.ShouldProcess(...))` whose then-block holds `node`, if any."""
    current = node
    while current.parent is not None:
        parent = current.parent
        if (current.type == "statement_block" and parent.type == "if_statement"
                and re.search(r"\$PSCmdlet\.ShouldProcess\(",
                              script.text(next(c for c in parent.children
                                               if c.type == "pipeline")), re.IGNORECASE)):
            return parent
        current = parent
    return None


CHANGING_COMMANDS = {"register-scheduledtask", "unregister-scheduledtask", "export-clixml",
                     "set-scheduledtask", "new-item"}


def unguarded_changes(script: Script) -> list[str]:
    return [f"{script.where(c)}: {command_name(script, c)} outside a ShouldProcess block"
            for c in script.of_type("command")
            if command_name(script, c).lower() in CHANGING_COMMANDS
            and not inside(c, "function_statement")
            and should_process_guard(script, c) is None]


def test_register_task_changes_only_inside_should_process(register_script):
    names = {command_name(register_script, c).lower() for c in register_script.of_type("command")}
    assert {"register-scheduledtask", "unregister-scheduledtask", "export-clixml"} <= names
    problems = unguarded_changes(register_script)
    assert not problems, "\n".join(problems)


def test_should_process_check_flags_unguarded_changes(tmp_path):
    rogue = Script.from_text(tmp_path, "Register-Rogue.ps1", """param([switch]$Now)
if ($PSCmdlet.ShouldProcess('task', 'Register')) {
    Register-ScheduledTask -TaskName a -Action $action
}
else {
    Register-ScheduledTask -TaskName b -Action $action
}
if ($Now) { Export-Clixml -InputObject $x -Path c.xml }
Unregister-ScheduledTask -TaskName d
""")
    lines = [int(p.split(":")[1]) for p in unguarded_changes(rogue)]
    assert lines == [6, 8, 9]


@pytest.mark.parametrize("what_if, bound, confirmed, registered", [
    (False, REGISTER_BASE, True, True),
    (True, REGISTER_BASE, True, False),
    (False, {**REGISTER_BASE, "Confirm": True}, False, False),
], ids=["register", "whatif", "confirm-declined"])
def test_register_task_registers_only_when_should_process_agrees(register_script, what_if, bound,
                                                                 confirmed, registered):
    run = evaluator(register_script, bound, what_if=what_if, confirmed=confirmed,
                    collect="scriptargs")
    assert run.run() == []  # no CLI call
    assert ("Register-ScheduledTask" in run.executed) is registered
    assert "New-ScheduledTaskAction" in run.executed  # what -WhatIf shows is still built


def flows_into(script: Script, starts: list[Node]) -> list[Node]:
    """`starts` and every expression whose value can reach them: the right-hand sides of the
    assignments (=, +=, foreach, .Add()) to each variable they read, transitively. Names are
    not scoped, so this over-approximates: it never misses a flow."""
    seen: set[str] = set()
    sources = list(starts)
    frontier = list(starts)
    while frontier:
        for var in script.of_type("variable", under=frontier.pop()):
            name = variable_name(script, var)
            if name in seen or name in ("null", "true", "false"):  # `$null = ...` discards
                continue
            seen.add(name)
            for node in script.of_type("assignment_expression", "foreach_statement",
                                       "invokation_expression"):
                found = None
                if node.type == "assignment_expression" and assigns_to(script, node, name):
                    found = assignment_parts(script, node)[2]
                elif node.type == "foreach_statement" and variable_name(
                        script, next(c for c in node.children if c.type == "variable")) == name:
                    found = next(c for c in node.children if c.type == "pipeline")
                elif (node.type == "invokation_expression"
                      and variable_name(script, node.named_children[0]) == name):
                    found = next((c for c in node.children if c.type == "argument_list"), None)
                if found is not None:
                    sources.append(found)
                    frontier.append(found)
    return sources


def task_definition_problems(script: Script) -> list[str]:
    """Nothing secret may reach the task's definition (action, triggers, settings,
    description: readable by anyone who can read the task); only -Password of
    Register-ScheduledTask, which Task Scheduler keeps apart, may see a password."""
    starts = []
    for command in script.of_type("command"):
        if command_name(script, command).lower() not in ("register-scheduledtask",
                                                         "new-scheduledtaskaction"):
            continue
        arguments = command_arguments(script, command)
        skip = [arguments[k] for k in ("password", "user") if arguments.get(k) is not None]
        elements = next(c for c in command.children if c.type == "command_elements")
        starts += [e for e in elements.named_children
                   if not any(e == k for k in skip)
                   and e.type not in ("command_parameter", "command_argument_sep")]
    problems = []
    for source in flows_into(script, starts):
        for node in script.nodes(source):
            text = script.text(node).lower()
            if node.type == "variable" and variable_name(script, node) in (
                    "credential", "taskcredential", "psboundparameters"):
                problems.append(f"{script.where(node)}: {script.text(node)} reaches the task")
            elif node.type == "member_name" and text in ("password", "getnetworkcredential"):
                problems.append(f"{script.where(node)}: .{script.text(node)} reaches the task")
            elif node.type in ("verbatim_string_characters", "expandable_string_literal",
                               "generic_token") and ("password" in text or "securestring" in text):
                problems.append(f"{script.where(node)}: {script.text(node)[:40]} reaches the task")
    return sorted(set(problems))


def test_no_password_reaches_the_scheduled_task(register_script):
    assert [c for c in register_script.of_type("command")
            if command_name(register_script, c) == "New-ScheduledTaskAction"]
    problems = task_definition_problems(register_script)
    assert not problems, "\n".join(problems)


def test_task_definition_check_flags_a_password_in_the_action(tmp_path):
    leaky = Script.from_text(tmp_path, "Register-Leaky.ps1", """param($Credential, $Database)
$pw = $Credential.GetNetworkCredential().Password
$scriptArgs = @('-Database', $Database)
$scriptArgs += @('-DbPassword', $pw)
$line = $scriptArgs -join ' '
$action = New-ScheduledTaskAction -Execute powershell.exe -Argument $line
$desc = "PGPASSWORD=x"
Register-ScheduledTask -TaskName t -Action $action -Description $desc -User u -Password $pw
""")
    lines = {int(p.split(":")[1]) for p in task_definition_problems(leaky)}
    assert lines == {2, 4, 7}, task_definition_problems(leaky)


def bind_tokens(script: Script, tokens: list[str]) -> dict[str, object]:
    """The parameters `powershell.exe -File <script> <tokens>` binds."""
    params = script_parameters(script)
    bound: dict[str, object] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        assert token.startswith("-"), f"positional value {token!r}"
        key = token[1:].lower()
        assert key in params, f"{script.path.name} has no {token}"
        if params[key].is_switch:
            bound[params[key].name] = True
            i += 1
        else:
            bound[params[key].name] = tokens[i + 1]
            i += 2
    return bound


@pytest.mark.parametrize("bound, expect", [
    (REGISTER_BASE, {"maintenance_window": "Sat 01:00-03:00 UTC", "allow_destructive": False,
                     "pk_strategy": "keep", "dry_run": False}),
    ({**REGISTER_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 UTC", "Wed 22:00-23:00"],
      "AllowDestructive": True, "PkStrategy": "swap", "SqlInstance": "db01", "Port": 5433,
      "ReportDir": "D/reports", "Settings": "pettycash_system.settings",
      "Python": sys.executable, "Keep": 4, "RunTests": True, "TestSettings": "staging_settings",
      "LockTimeout": "1s", "BatchSize": 5000, "BatchDelay": "0.5", "Rollback": "restore",
      "PgBinDir": BIN_DIR, "CredentialPath": "<tmp>"},
     {"maintenance_window": "Sat 01:00-03:00 UTC; Wed 22:00-23:00", "allow_destructive": True,
      "pk_strategy": "swap", "settings": "pettycash_system.settings", "python": sys.executable,
      "keep": 4, "run_tests": True, "test_settings": "staging_settings", "lock_timeout": "1s",
      "batch_size": 5000, "batch_delay": 0.5, "rollback": "restore", "pg_bin_dir": BIN_DIR}),
], ids=["defaults", "every-option"])
def test_scheduled_task_runs_invoke_reconcile_with_arguments_the_cli_parses(
        register_script, invoke_script, tmp_path, bound, expect):
    if bound.get("CredentialPath") == "<tmp>":
        credential_file = tmp_path / "pettycash.credential.xml"
        credential_file.write_text("<Objs/>")
        bound = {**bound, "CredentialPath": str(credential_file)}
    task = evaluator(register_script, bound, collect="scriptargs")
    task.run()
    tokens = task.collected()
    assert "-Force" in tokens  # unattended: never waits for a prompt
    invoke_bound = bind_tokens(invoke_script, tokens)
    # The task's run, non-interactive: a prompt would be answered "no".
    run = evaluator(invoke_script, invoke_bound, confirmed=False)
    [arguments] = run.run()
    assert "Start-Transcript" in run.executed
    assert invoke_bound["LogDir"] == cli_path("logs")
    ns = parse_cli(arguments)
    assert ns.command == "reconcile" and ns.project_dir == str(EXAMPLE)
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 "pettycash")
    assert ns.out_dir == cli_path("backups")
    report_dir = cli_path(bound["ReportDir"]) if "ReportDir" in bound else \
        os.path.join(cli_path("logs"), "reports")
    assert ns.report_dir == run_folder(report_dir)
    for key, value in expect.items():
        assert getattr(ns, key) == value, key
    if "CredentialPath" in bound:
        assert run.parameter_set == "CredentialFile"
        assert invoke_bound["CredentialPath"] == bound["CredentialPath"]
    else:
        assert "CredentialPath" not in invoke_bound and run.parameter_set == "Credential"


@pytest.mark.parametrize("bound, reason", [
    ({k: v for k, v in REGISTER_BASE.items() if k != "MaintenanceWindow"},
     "-MaintenanceWindow is mandatory"),
    ({k: v for k, v in REGISTER_BASE.items() if k != "LogDir"}, "-LogDir is mandatory"),
    ({**REGISTER_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 Europe/Berlin"]}, "does not match"),
    ({**REGISTER_BASE, "TaskName": "a\\b"}, "does not match"),
    ({**REGISTER_BASE, "Unregister": True}, "parameter set"),
    ({**REGISTER_BASE, "NoBackup": True}, "no parameter"),
], ids=["no-window", "no-logdir", "not-utc", "task-name", "unregister-and-register",
        "no-backup"])
def test_register_task_parameter_validation_refuses_bad_values(register_script, bound, reason):
    with pytest.raises(ParameterRejected, match=reason):
        evaluator(register_script, bound, collect="scriptargs").run()


def test_register_task_refuses_a_missing_credential_file(register_script, tmp_path):
    with pytest.raises(ScriptThrew, match="does not exist"):
        evaluator(register_script, {**REGISTER_BASE, "CredentialPath": str(tmp_path / "no.xml")},
                  collect="scriptargs").run()


@pytest.mark.parametrize("exists, what_if, removed", [
    (True, False, True), (True, True, False), (False, False, False),
], ids=["unregister", "whatif", "no-such-task"])
def test_unregister_needs_only_the_database(register_script, exists, what_if, removed):
    run = evaluator(register_script, {"Database": "pettycash", "Unregister": True},
                    what_if=what_if, collect="scriptargs",
                    extra={"get-scheduledtask": lambda **_: "task" if exists else None})
    assert run.run() == []
    assert run.parameter_set == "Unregister"
    assert ("Unregister-ScheduledTask" in run.executed) is removed
    assert "Register-ScheduledTask" not in run.executed
    assert ("Write-Warning" in run.executed) is (not exists)


def test_register_task_time_limit_and_trigger_follow_the_window(register_script):
    """ExecutionTimeLimit = the longest window + grace; weekly UTC-pinned triggers."""
    s = register_script
    text = {command_name(s, c): command_arguments(s, c) for c in s.of_type("command")}
    trigger = text["New-ScheduledTaskTrigger"]
    assert {"weekly", "daysofweek", "at"} <= set(trigger)
    settings = text["New-ScheduledTaskSettingsSet"]
    assert variable_name(s, settings["executiontimelimit"]) == "timelimit"
    [limit] = [a for a in s.of_type("assignment_expression") if assigns_to(s, a, "timeLimit")]
    assert s.text(assignment_parts(s, limit)[2]) == \
        "$longest + [timespan]::FromMinutes($GraceMinutes)"
    assert "StartBoundary" in s.text(s.root) and "'Z'" in s.text(s.root)
    action = text["New-ScheduledTaskAction"]
    assert variable_name(s, action["argument"]) == "argumentline"
    literals = {string_value(s, n) for n in s.of_type("string_literal")}
    assert {"-NoProfile", "-NonInteractive", "-File", "Invoke-Reconcile.ps1", "-Force",
            "-LogDir"} <= literals


# --------------------------------------------------------------------------- real CLI calls
def _server_bound(spec) -> dict:
    host = spec.params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = int(spec.params.get("port") or os.environ.get("PGPORT") or 5432)
    return {"SqlInstance": host, "Port": port}


def run_cli(arguments: list[str], spec) -> tuple[int, dict]:
    """What Invoke-PgReconcileCli does: the CLI with --json, identity via the environment."""
    proc = subprocess.run([sys.executable, "-m", "pgreconcile", *arguments, "--json"],
                          env=spec.child_env(), capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, cwd=REPO, check=False)
    try:
        document = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"no JSON on stdout (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, document


def _seed(spec) -> None:
    run_sql(spec, """
        CREATE TABLE payment (id serial PRIMARY KEY, amount numeric(12, 2) NOT NULL,
                              memo text);
        INSERT INTO payment (amount, memo)
            SELECT g * 1.5, 'memo ' || g FROM generate_series(1, 500) g;
    """)


def test_backup_db_call_makes_a_verified_backup(backup_script, db, tmp_path):
    _seed(db)
    out_dir = tmp_path / "backups"
    bound = {"Database": db.dbname, **_server_bound(db), "OutDir": str(out_dir),
             "Format": "directory", "Jobs": 2, "TestRestore": True, "Keep": 2}
    code, result = run_cli(only_call(backup_script, bound), db)
    assert code == 0, result
    assert {"path", "sha256", "manifest", "verified"} <= set(result)
    assert result["verified"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", result["sha256"])
    assert Path(result["path"]).parent == out_dir and Path(result["path"]).is_dir()
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["database"] == db.dbname and manifest["sha256"] == result["sha256"]
    assert manifest["row_counts"] == {"public.payment": 500}
    assert result["test_restore"]["ok"] is True


def test_backup_db_whatif_reports_and_writes_nothing(backup_script, db, tmp_path):
    out_dir = tmp_path / "backups"
    bound = {"Database": db.dbname, **_server_bound(db), "OutDir": str(out_dir)}
    arguments = only_call(backup_script, bound, what_if=True)
    assert "--dry-run" in arguments
    code, result = run_cli(arguments, db)
    assert code == 0, result
    assert result["would_change"] is True and result["changed"] is False
    assert result["database"] == db.dbname and result["pg_dump"]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_restore_db_call_restores_into_a_new_database(backup_script, restore_script,
                                                      common_script, db, server, tmp_path):
    _seed(db)
    backup_args = only_call(backup_script, {"Database": db.dbname, **_server_bound(db),
                                            "OutDir": str(tmp_path / "backups")})
    code, backup = run_cli(backup_args, db)
    assert code == 0, backup

    target = f"{TEST_DB_PREFIX}restored_{secrets.token_hex(4)}"
    bound = {"Path": backup["path"], "Database": target, **_server_bound(db)}
    try:
        code, planned = run_cli(only_call(restore_script, bound, what_if=True), db)
        assert code == 0, planned
        assert planned["verified"] is True and planned["changed"] is False
        assert not query(server, "SELECT 1 FROM pg_database WHERE datname = %s", (target,))

        code, restored = run_cli(only_call(restore_script, bound), db)
        assert code == 0, restored
        assert restored["target_db"] == target
        assert restored["verified"] is True and restored["row_counts_match"] is True
        assert query(server.with_dbname(target), "SELECT count(*) FROM payment") == [(500,)]

        # Restoring over it again without -Replace is refused: exit 4 and the error document
        # Invoke-PgReconcileCli turns into a terminating error.
        code, refused = run_cli(only_call(restore_script, bound), db)
        assert code == 4
        assert refused["ok"] is False and refused["exit_code"] == 4
        for name in fields_read_from_cli_document(common_script):
            assert refused[name], name
    finally:
        drop_database(server, target)


# --------------------------------------------------------------------------- real reconcile runs


def _reconcile_bound(spec, tmp_path, **extra) -> dict:
    return {"Database": spec.dbname, **_server_bound(spec), "ProjectDir": str(EXAMPLE),
            "BackupDir": str(tmp_path / "backups"), "ReportDir": str(tmp_path / "reports"),
            **extra}


def _report_file(arguments: list[str]) -> Path:
    return Path(arguments[arguments.index("--report-dir") + 1]) / "report.json"


def test_invoke_reconcile_check_plans_and_changes_nothing(invoke_script, drifted, server,
                                                          tmp_path):
    arguments = only_call(invoke_script, _reconcile_bound(drifted, tmp_path, Check=True))
    assert "--dry-run" in arguments
    before = fingerprint_and_counts(drifted)
    code, plan = run_cli(arguments, drifted)
    assert code == 0, plan
    assert plan["ok"] is True and plan["dry_run"] is True and plan["changed"] is False
    assert plan["plan"]["steps"], "the drifted database needs steps"
    assert {s["kind"] for s in plan["plan"]["steps"]} >= {"backfill", "concurrent"}
    assert plan["preflight_before"]["ok"] is False  # the seed's failing migrate
    assert plan["diff_before"]["migrations"]["pending"] == [
        "treasury.0002_phase6_dashboard_models"]
    assert "backup" not in plan and "apply" not in plan
    assert fingerprint_and_counts(drifted) == before
    assert not (tmp_path / "backups").exists()
    assert json.loads(_report_file(arguments).read_text())["dry_run"] is True
    assert list_scratch_databases(server) == []


def test_invoke_reconcile_run_applies_the_pending_migration(invoke_script, drifted, tmp_path):
    # The backup is real and verified (checksums, pg_restore --list); its trial restore is
    # left out to keep this test fast (tests/test_apply.py runs the full proof).
    arguments = only_call(invoke_script, _reconcile_bound(drifted, tmp_path, Keep=2,
                                                          NoTestRestore=True))
    assert "--dry-run" not in arguments and "--no-test-restore" in arguments
    before_schema, before_rows = fingerprint_and_counts(drifted)
    code, report = run_cli(arguments, drifted)
    assert code == 0, json.dumps(report)[-3000:]
    assert report["ok"] is True and report["changed"] is True
    assert report["migrate"]["applied"] == ["treasury.0002_phase6_dashboard_models"]
    assert report["verify"]["ok"] is True
    assert report["backup"]["verified"] is True
    assert Path(report["backup"]["path"]).parent == tmp_path / "backups"
    assert json.loads(_report_file(arguments).read_text())["ok"] is True
    after_schema, after_rows = fingerprint_and_counts(drifted)
    assert after_schema != before_schema
    assert after_rows["public.treasury_payment"] == before_rows["public.treasury_payment"] == 300


def test_invoke_reconcile_refusal_outside_the_window_leaves_a_report(invoke_script,
                                                                     common_script, db,
                                                                     tmp_path):
    """Exit 4: the error document Invoke-PgReconcileCli turns into a terminating error, and
    the run's report.json the wrapper attaches to it."""
    today = datetime.now(timezone.utc).weekday()
    closed = f"{['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][(today + 3) % 7]} 01:00-02:00 UTC"
    arguments = only_call(invoke_script, _reconcile_bound(db, tmp_path,
                                                          MaintenanceWindow=[closed]))
    code, refused = run_cli(arguments, db)
    assert code == 4, refused
    assert refused["error"] == "OutsideMaintenanceWindow" and refused["exit_code"] == 4
    for name in fields_read_from_cli_document(common_script):
        assert refused[name], name
    report = json.loads(_report_file(arguments).read_text())
    assert report["ok"] is False and report["error"]["exit_code"] == 4
    assert report["stages"] == [{**report["stages"][0], "stage": "window", "ok": False}]
    assert not (tmp_path / "backups").exists()
    assert query(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
