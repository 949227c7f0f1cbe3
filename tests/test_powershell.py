"""The PowerShell wrappers in scripts/, proven with a PowerShell parser and the real CLI.

PowerShell does not run on these machines, so what is proven here is what a parser
(tree-sitter-powershell) and pgreconcile's own CLI can prove:

* every `scripts/*.ps1` parses without ERROR or MISSING nodes;
* each wrapper carries comment-based help (.SYNOPSIS, .DESCRIPTION, a .PARAMETER per
  parameter, an .EXAMPLE per parameter set that runs the script with parameters it has),
  `[CmdletBinding(SupportsShouldProcess)]`, `$ErrorActionPreference = 'Stop'`, typed
  parameters with the Validate* attributes the binder applies, and credentials as PSCredential
  (never a password parameter);
* no password reaches a command line: a credential's plain-text password may only be assigned
  to `$env:PGPASSWORD`, inside a try whose finally puts the environment back, or be the
  -Password of Register-ScheduledTask (Task Scheduler keeps it); nothing secret flows into a
  scheduled task's definition;
* the CLI is reached only through PgReconcile.Common.ps1 (`Invoke-PgReconcileCli -Arguments
  $cliArgs`), and only after ShouldProcess agreed or under -WhatIf (then with --dry-run);
* the command lines the scripts build are read from the syntax tree as *argument templates*:
  the literal start of `$cliArgs = @(...)` and each `$cliArgs += ...` with the condition of
  the `if` around it. A test names the parameters it binds and the values of the script's
  computed variables (each checked against the statement that computes it); the template
  gives the command line, which the CLI's argparse must accept and which is run for real
  against the test database where a server is involved. Nothing of PowerShell is executed
  or emulated beyond that;
* maintenance windows are validated by the CLI (`pgreconcile window`, via
  Assert-PgReconcileWindow): the scripts carry no window grammar, and the call they make is
  run for real.

Convention for wrappers (so these checks keep working for new ones): build the CLI's
arguments in an array named `$cliArgs` that starts with the subcommand, add to it only with
`+=` inside `if` statements whose condition is `$PSBoundParameters.ContainsKey('Name')`, a
switch parameter, a computed variable or `$WhatIfPreference`, and hand it to
`Invoke-PgReconcileCli -Arguments $cliArgs`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from pgreconcile.cli import build_parser
from pgreconcile.pg.scratch import drop_database, list_scratch_databases
from pgreconcile.runbook.window import MaintenanceWindows

from .support import (
    EXAMPLE,
    REPO,
    TEST_DB_PREFIX,
    closed_window,
    fingerprint_and_counts,
    query,
    run_sql,
)

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

    def function(self, name: str) -> Node:
        """The `function <name> { ... }` statement."""
        for node in self.of_type("function_statement"):
            names = [c for c in node.children if c.type == "function_name"]
            if names and self.text(names[0]).lower() == name.lower():
                return node
        raise AssertionError(f"{self.path.name} defines no function {name}")


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


def commands_named(script: Script, name: str, under: Node | None = None) -> list[Node]:
    return [c for c in script.of_type("command", under=under)
            if command_name(script, c).lower() == name.lower()]


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


def assignments_to(script: Script, name: str) -> list[str]:
    """The right-hand sides (source text) of every `$name = ...`."""
    return [script.text(core(assignment_parts(script, a)[2]))
            for a in script.of_type("assignment_expression") if assigns_to(script, a, name)
            and assignment_parts(script, a)[1] == "="]


def inside(node: Node, *types: str) -> Node | None:
    parent = node.parent
    while parent is not None:
        if parent.type in types:
            return parent
        parent = parent.parent
    return None


def clause_condition(script: Script, node: Node) -> Node | None:
    """The condition (a pipeline) of the innermost if/elseif branch holding `node`, None when
    it is in no branch; an else branch is an AssertionError (not a form the checks read)."""
    current = node
    while current.parent is not None:
        parent = current.parent
        if current.type == "statement_block":
            if parent.type in ("if_statement", "elseif_clause"):
                return next(c for c in parent.children if c.type == "pipeline")
            if parent.type == "else_clause":
                raise AssertionError(f"{script.where(node)}: inside an else branch")
        current = parent
    return None


# --------------------------------------------------------------------------- parse-level checks
def syntax_problems(script: Script) -> list[str]:
    return [f"{script.where(n)}:{n.start_point[1] + 1}: "
            + (f"missing {n.type!r}" if n.is_missing else f"syntax error near "
               f"{script.text(n)[:60]!r}")
            for n in script.nodes() if n.is_error or n.is_missing]


def param_block(script: Script) -> Node | None:
    return next((c for c in script.root.children if c.type == "param_block"), None)


class ParameterRejected(Exception):
    """PowerShell's parameter binder would refuse this before the script runs."""


ALL_SETS = "__AllParameterSets"


@dataclass
class ScriptParameter:
    """One parameter of a script's param block, as its attributes declare it."""
    name: str
    types: list[str] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)
    sets: set[str] = field(default_factory=set)
    default: Node | None = None
    is_switch: bool = False
    # One (parameter set, mandatory) per [Parameter()] attribute; none means all sets, optional.
    declarations: list[tuple[str, bool]] = field(default_factory=list)
    pattern: str | None = None
    choices: list[str] | None = None
    range: tuple[int, int] | None = None

    def mandatory_in(self, name: str) -> bool:
        return any(m and s in (name, ALL_SETS) for s, m in self.declarations)

    def validate(self, value: object) -> None:
        """What the parameter's Validate* attributes refuse at binding time."""
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


def script_parameters(script: Script, block: Node | None = None) -> dict[str, ScriptParameter]:
    block = block or param_block(script)
    params: dict[str, ScriptParameter] = {}
    if block is None:
        return params
    for node in script.of_type("script_parameter", under=block):
        name = script.text(next(c for c in node.children if c.type == "variable")).lstrip("$")
        param = ScriptParameter(name)
        param.default = next((c for c in node.children if c.type == "script_parameter_default"),
                             None)
        attributes = next((c for c in node.children if c.type == "attribute_list"), None)
        for attribute in attributes.named_children if attributes else []:
            literal = next((c for c in attribute.children if c.type == "type_literal"), None)
            if literal is not None:  # [string], [switch], [System.Management...PSCredential]
                spec = next(c for c in literal.children if c.type == "type_spec")
                kind = script.text(spec).rsplit(".", 1)[-1].lower()
                param.types.append(kind)
                param.is_switch |= kind == "switch"
                continue
            label = next(c for c in attribute.children if c.type == "attribute_name")
            kind = script.text(label).rsplit(".", 1)[-1].lower()
            arguments = list(script.of_type("attribute_argument", under=attribute))
            literals = [string_value(script, a) for a in arguments]
            if kind == "alias":
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


def bind(script: Script, bound: dict[str, object]) -> str:
    """The parameter set `bound` selects, after the checks PowerShell's binder makes from the
    declared attributes: known names, one resolvable parameter set, mandatory parameters
    present, Validate* attributes satisfied (ValidateScript is not read). ParameterRejected
    says which one fails."""
    params = script_parameters(script)
    unknown = {k for k in bound if k.lower() not in params}
    if unknown:
        raise ParameterRejected(f"{script.path.name} has no parameter(s) {sorted(unknown)}")
    keys = {k.lower() for k in bound}
    declared = {s for p in params.values() for s in p.sets}
    parameter_set = ALL_SETS
    if declared:
        candidates = set(declared)
        for key in keys:
            if params[key].sets and ALL_SETS not in {s for s, _ in params[key].declarations}:
                candidates &= params[key].sets
        if not candidates:
            raise ParameterRejected(f"{script.path.name}: parameter set cannot be resolved "
                                    f"from {sorted(keys)}")
        default = binding_setting(script, "DefaultParameterSetName")
        if len(candidates) > 1 and default not in candidates:
            raise ParameterRejected(f"{script.path.name}: ambiguous parameter set {candidates}")
        parameter_set = candidates.pop() if len(candidates) == 1 else default
    for key, param in params.items():
        value = next((v for k, v in bound.items() if k.lower() == key), None)
        if value is None and param.mandatory_in(parameter_set):
            raise ParameterRejected(f"{script.path.name}: -{param.name} is mandatory")
        if value is not None and not param.is_switch:
            param.validate(value)
    return parameter_set


_SECRET_NAME = re.compile(r"password|passwd|secret|token", re.IGNORECASE)


def parameter_problems(script: Script) -> list[str]:
    """Every parameter typed; credentials as PSCredential; nothing secret as plain text."""
    problems = []
    for param in script_parameters(script).values():
        types = param.types
        if not types:
            problems.append(f"{script.path.name}: -{param.name} has no type")
        if _SECRET_NAME.search(param.name):
            problems.append(f"{script.path.name}: -{param.name} takes a secret as plain text; "
                            "take a PSCredential")
        if param.name.lower().endswith("credential") and types != ["pscredential"]:
            problems.append(f"{script.path.name}: -{param.name} is not a PSCredential")
    return problems


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
    calls = commands_named(script, "Invoke-PgReconcileCli")
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


def call_gate_problems(script: Script) -> list[str]:
    """The CLI call comes after `if ($PSCmdlet.ShouldProcess(...)) {...}
    elseif ($WhatIfPreference) { $cliArgs += '--dry-run' ... } else { return }` (an
    `if ($Check)` branch adding --dry-run may come first): no change without ShouldProcess
    agreeing, a dry run under -WhatIf, and nothing at all when a prompt is declined."""
    [call] = commands_named(script, "Invoke-PgReconcileCli")
    gates = [n for n in script.of_type("if_statement")
             if re.search(r"\$PSCmdlet\.ShouldProcess\(", script.text(n), re.IGNORECASE)
             and n.end_byte < call.start_byte]
    if not gates:
        return [f"{script.path.name}: the CLI call is not preceded by a ShouldProcess branch"]
    gate = gates[-1]
    problems = []
    branches = [(script.text(next(c for c in n.children if c.type == "pipeline")),
                 next(c for c in n.children if c.type == "statement_block"))
                for n in [gate, *script.of_type("elseif_clause", under=gate)]]
    whatif = [n for text, n in branches if text.strip("()").lower() == "$whatifpreference"]
    if not whatif or "'--dry-run'" not in script.text(whatif[0]):
        problems.append(f"{script.where(gate)}: no `elseif ($WhatIfPreference)` adding --dry-run")
    for text, node in branches:
        if "--dry-run" in script.text(node) and not re.fullmatch(
                r"\(?\$(whatifpreference|check)\)?", text.strip(), re.IGNORECASE):
            problems.append(f"{script.where(node)}: --dry-run added under {text}")
    otherwise = next((c for c in gate.children if c.type == "else_clause"), None)
    if otherwise is None or script.text(core(next(
            script.of_type("statement_list", under=otherwise)))).strip() != "return":
        problems.append(f"{script.where(gate)}: a declined ShouldProcess does not `return`")
    return problems


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


def option_literals(script: Script, under: Node | None = None) -> list[tuple[str, Node]]:
    """Every string literal that is a `--option` (value after `=` dropped)."""
    found = []
    for node in script.of_type("string_literal", under=under):
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


# --------------------------------------------------------------------------- argument templates
@dataclass
class ArgumentTemplate:
    """The command line a script builds in an array variable, read from its syntax tree:
    `base`, the elements of the one `$<array> = @(...)`, then for each `$<array> += ...` the
    condition of the if/elseif branch around it (None: unconditional) and its elements."""
    script: Script
    base: list[Node]
    additions: list[tuple[Node | None, list[Node]]]


def array_elements(node: Node) -> list[Node]:
    """The elements of `@(a, b)`, `a, b` or a single value."""
    node = core(node)
    if node.type == "array_expression":
        inner = next((c for c in node.children if c.type == "statement_list"), None)
        return [] if inner is None else [e for c in inner.named_children
                                         if c.type != "comment" for e in array_elements(c)]
    if node.type == "array_literal_expression":
        return [e for c in node.named_children for e in array_elements(c)]
    return [node]


def argument_template(script: Script, array: str = "cliArgs",
                      under: Node | None = None) -> ArgumentTemplate:
    starts, additions = [], []
    for node in script.of_type("assignment_expression", under=under):
        if not assigns_to(script, node, array):
            continue
        _, op, right = assignment_parts(script, node)
        if op == "=":
            starts.append(right)
        elif op == "+=":
            additions.append((clause_condition(script, node), array_elements(right)))
        else:
            raise AssertionError(f"{script.where(node)}: ${array} {op}")
    assert len(starts) == 1, f"{script.path.name}: {len(starts)} `${array} = @(...)`, not one"
    return ArgumentTemplate(script, array_elements(starts[0]), additions)


def command_line(template: ArgumentTemplate, bound: dict[str, object],
                 values: dict[str, object] | None = None, *, what_if: bool = False) -> list[str]:
    """The template filled in. An addition is taken when its condition holds; the conditions
    read are `$PSBoundParameters.ContainsKey('Name')` (Name in `bound`), a switch parameter
    (bound and true), `$WhatIfPreference` (`what_if`) and a computed variable (truthy in
    `values`). An element is a literal, a parameter (bound, else its literal default), or a
    variable or expression whose source text is a key of `values`. Anything else fails:
    a new construct in a script needs a test that says what it is."""
    script = template.script
    params = script_parameters(script)
    bound_by_key = {k.lower(): v for k, v in bound.items()}
    values = values or {}

    def holds(condition: Node) -> bool:
        node = core(condition)
        text = script.text(node)
        if (node.type == "invokation_expression"
                and variable_name(script, node.named_children[0]) == "psboundparameters"
                and (member_name(script, node) or "").lower() == "containskey"):
            [name] = [string_value(script, n) for n in script.of_type("string_literal",
                                                                       under=node)]
            return name.lower() in bound_by_key
        name = variable_name(script, node)
        if name == "whatifpreference":
            return what_if
        if name in params and params[name].is_switch:
            return bool(bound_by_key.get(name))
        if text in values:
            return bool(values[text])
        raise AssertionError(f"{script.where(node)}: a condition the template does not read: "
                             f"{text!r}")

    def value(element: Node) -> str:
        node = core(element)
        text = script.text(node)
        literal = string_value(script, node)
        if literal is not None:
            return literal
        if node.type == "integer_literal":
            return text
        if text in values:
            return str(values[text])
        name = variable_name(script, node)
        if name in params:
            if name in bound_by_key:
                return str(bound_by_key[name])
            default = core(params[name].default) if params[name].default else None
            if default is not None and string_value(script, default) is not None:
                return string_value(script, default)
            if default is not None and default.type == "integer_literal":
                return script.text(default)
        raise AssertionError(f"{script.where(node)}: no value for {text!r}: bind the "
                             "parameter or give the value")

    line = [value(e) for e in template.base]
    for condition, elements in template.additions:
        if condition is None or holds(condition):
            line += [value(e) for e in elements]
    return line


# What PgReconcile.Common.ps1's helpers return, for the values the tests give; the statements
# that call them are checked in test_values_the_tests_give_are_what_the_scripts_compute.
def pg_conninfo(server: str, port: int | str = 5432, database: str | None = None) -> str:
    """ConvertTo-PgConnInfo: libpq key='value' pairs, backslash and quote escaped."""
    pairs = {"host": server, "port": str(port)}
    if database:
        pairs["dbname"] = database
    return " ".join("{}='{}'".format(k, v.replace("\\", "\\\\").replace("'", "\\'"))
                    for k, v in pairs.items())


def cli_path(path: str) -> str:
    """Resolve-PgReconcilePath: the full path, without trailing separators."""
    return re.sub(r"(?<=[^:\\/])[\\/]+$", "", os.path.abspath(path))


STAMP = "20250104T010000Z"  # a Get-PgReconcileStamp value
TASK_CLI = "/opt/pgreconcile/bin/pgreconcile"  # a Resolve-PgReconcileCli value


def _windows(value: object) -> list[str]:
    return value if isinstance(value, list) else [value]


def backup_values(bound: dict) -> dict[str, str]:
    return {"$connInfo": pg_conninfo(bound.get("SqlInstance", "localhost"),
                                     bound.get("Port", 5432), bound["Database"]),
            "$outPath": cli_path(bound["OutDir"])}


def restore_values(bound: dict) -> dict[str, str]:
    values = {"$connInfo": pg_conninfo(bound.get("SqlInstance", "localhost"),
                                       bound.get("Port", 5432), "postgres"),
              "$backupPath": cli_path(bound["Path"])}
    if "BackupDir" in bound:
        values["Resolve-PgReconcilePath -Path $BackupDir"] = cli_path(bound["BackupDir"])
    return values


def invoke_values(bound: dict) -> dict[str, str]:
    database = bound["Database"]
    values = {"$connInfo": pg_conninfo(bound.get("SqlInstance", "localhost"),
                                       bound.get("Port", 5432), database),
              "$projectPath": cli_path(bound["ProjectDir"]),
              "$backupPath": cli_path(bound.get("BackupDir", "backups")),
              "$reportPath": run_folder(bound.get("ReportDir", "reports"), database)}
    if "Python" in bound:
        python = bound["Python"]
        values["$pythonPath"] = cli_path(python) if Path(python).is_file() else python
    if "MaintenanceWindow" in bound:
        values["$MaintenanceWindow -join '; '"] = "; ".join(_windows(bound["MaintenanceWindow"]))
    return values


def register_values(bound: dict) -> dict[str, str]:
    windows = [w.strip() for v in _windows(bound["MaintenanceWindow"]) for w in v.split(";")
               if w.strip()]
    log = cli_path(bound["LogDir"])
    values = {"$projectPath": cli_path(bound["ProjectDir"]),
              "Resolve-PgReconcilePath -Path $BackupDir": cli_path(bound["BackupDir"]),
              "$reportPath": (cli_path(bound["ReportDir"]) if "ReportDir" in bound
                              else os.path.join(log, "reports")),
              "$logPath": log, "$windowTexts -join '; '": "; ".join(windows),
              "$cliPath": TASK_CLI,
              "$credentialFile": cli_path(bound["CredentialPath"])
              if "CredentialPath" in bound else ""}
    if "Python" in bound:
        python = bound["Python"]
        values["$pythonPath"] = cli_path(python) if Path(python).is_file() else python
    if "PgBinDir" in bound:
        values["Resolve-PgReconcilePath -Path $PgBinDir"] = cli_path(bound["PgBinDir"])
    return values


def run_folder(report_dir: str, database: str) -> str:
    """Where Invoke-Reconcile.ps1 sends one run's reports."""
    return os.path.join(cli_path(report_dir), f"{database}-{STAMP}")


def parse_cli(arguments: list[str]):
    try:
        return build_parser().parse_args([*arguments, "--json"])
    except SystemExit as exc:  # argparse already printed why
        pytest.fail(f"the CLI rejects {arguments}: exit {exc.code}")


def run_cli(arguments: list[str], spec=None) -> tuple[int, dict | None]:
    """What Invoke-PgReconcileCli runs: the CLI with the arguments and --json, user name and
    password only in the environment. The exit code and the JSON document (None if none)."""
    env = spec.child_env() if spec is not None else dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "pgreconcile", *arguments, "--json"],
                          env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          cwd=REPO, check=False)
    try:
        document = json.loads(proc.stdout)
    except ValueError:
        document = None
    return proc.returncode, document


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


# --------------------------------------------------------------------------- fixtures
SCRIPT_PATHS = sorted(SCRIPTS.glob("*.ps1"))
WRAPPER_PATHS = [p for p in SCRIPT_PATHS if p.name != COMMON]
# Scripts that run no changing CLI command (they set up something that does).
NOT_CLI = {"Register-MaintenanceTask.ps1"}
CLI_WRAPPER_PATHS = [p for p in WRAPPER_PATHS if p.name not in NOT_CLI]
WINDOW_PATHS = [SCRIPTS / "Invoke-Reconcile.ps1", SCRIPTS / "Register-MaintenanceTask.ps1"]


def _ids(paths):
    return [p.name for p in paths]


def _script(name: str) -> Script:
    return Script.load(SCRIPTS / name)


@pytest.fixture(scope="module")
def backup_script() -> Script:
    return _script("Backup-Db.ps1")


@pytest.fixture(scope="module")
def restore_script() -> Script:
    return _script("Restore-Db.ps1")


@pytest.fixture(scope="module")
def common_script() -> Script:
    return _script(COMMON)


@pytest.fixture(scope="module")
def invoke_script() -> Script:
    return _script("Invoke-Reconcile.ps1")


@pytest.fixture(scope="module")
def register_script() -> Script:
    return _script("Register-MaintenanceTask.ps1")


def window_call(common: Script, window: str) -> list[str]:
    """The command line Assert-PgReconcileWindow runs for -Window `window`."""
    template = argument_template(common, under=common.function("Assert-PgReconcileWindow"))
    return command_line(template, {"Window": [window]}, {"$Window -join '; '": window})


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


@pytest.mark.parametrize("path", WRAPPER_PATHS, ids=_ids(WRAPPER_PATHS))
def test_parameters_are_typed_and_credentials_are_pscredential(path):
    problems = parameter_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CLI_WRAPPER_PATHS, ids=_ids(CLI_WRAPPER_PATHS))
def test_wrapper_calls_cli_through_common(path):
    problems = cli_call_problems(Script.load(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CLI_WRAPPER_PATHS, ids=_ids(CLI_WRAPPER_PATHS))
def test_wrapper_calls_the_cli_only_after_should_process_or_under_whatif(path):
    problems = call_gate_problems(Script.load(path))
    assert not problems, "\n".join(problems)


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


def test_parameter_check_flags_untyped_and_plain_text_secrets(tmp_path):
    loose = Script.from_text(tmp_path, "Get-Loose.ps1", """[CmdletBinding()]
param(
    $Database,
    [string]$Password,
    [string]$Credential,
    [System.Management.Automation.PSCredential]$TaskCredential
)
""")
    assert parameter_problems(loose) == [
        "Get-Loose.ps1: -Database has no type",
        "Get-Loose.ps1: -Password takes a secret as plain text; take a PSCredential",
        "Get-Loose.ps1: -Credential is not a PSCredential",
    ]


def test_gate_check_flags_a_call_without_should_process(tmp_path):
    eager = Script.from_text(tmp_path, "Backup-Eager.ps1", """param([switch]$Now)
$cliArgs = @('backup')
if ($PSCmdlet.ShouldProcess('db', 'Back up')) { $typeName = 'A' }
elseif ($Now) { $cliArgs += '--dry-run' }
Invoke-PgReconcileCli -Arguments $cliArgs
""")
    problems = "\n".join(call_gate_problems(eager))
    for expected in ("no `elseif ($WhatIfPreference)`", "--dry-run added under $Now",
                     "does not `return`"):
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


def test_common_error_carries_exit_code_hint_and_document(common_script):
    stored = {}
    for node in common_script.of_type("assignment_expression"):
        left, _, right = assignment_parts(common_script, node)
        match = re.fullmatch(r"\$exception\.Data\['(\w+)'\]", common_script.text(left))
        if match:
            stored[match.group(1)] = common_script.text(right)
    assert stored == {"ExitCode": "$exitCode", "Hint": "$hint", "Document": "$document"}


def test_run_cli_runs_what_invoke_pgreconcilecli_runs(common_script):
    """run_cli() stands for Invoke-PgReconcileCli: the arguments, then --json; the identity
    only through PGUSER/PGPASSWORD (as ConnectionSpec.child_env() passes it)."""
    s = common_script
    body = s.function("Invoke-PgReconcileCli")
    native = [s.text(c) for c in s.of_type("command", under=body)
              if command_name(s, c) == "$exe"]
    assert native == ["& $exe @Arguments '--json'"]
    assert assignments_to(s, "exe") == ["Resolve-PgReconcileCli -Path $CliPath"]


def test_argument_template_reads_literals_conditions_and_values(tmp_path):
    script = Script.from_text(tmp_path, "Get-Template.ps1", """param(
    [string]$Name = 'n', [int]$Count = 3, [switch]$Fast, [string]$Colour)
$cliArgs = @('show', '--name', $Name, '--where', $where)
if ($PSBoundParameters.ContainsKey('Count')) { $cliArgs += @('--count', $Count) }
if ($Fast) { $cliArgs += '--fast' }
if ($hasTail) {
    $tail = 'x'
    $cliArgs += @('--tail', (Get-Tail -Name $Name))
}
elseif ($WhatIfPreference) { $cliArgs += '--dry-run' }
if ($Colour -eq 'red') { $cliArgs += '--red' }
""")
    template = argument_template(script)
    values = {"$where": "here", "$hasTail": True, "Get-Tail -Name $Name": "t"}
    readable = ArgumentTemplate(script, template.base, template.additions[:-1])
    assert command_line(readable, {"Count": 5, "Fast": True}, values) \
        == ["show", "--name", "n", "--where", "here", "--count", "5", "--fast", "--tail", "t"]
    assert command_line(readable, {}, {**values, "$hasTail": False}, what_if=True) \
        == ["show", "--name", "n", "--where", "here", "--dry-run"]
    with pytest.raises(AssertionError, match="does not read: \"\\$Colour -eq 'red'\""):
        command_line(template, {}, values)
    with pytest.raises(AssertionError, match="no value for '\\$where'"):
        command_line(template, {}, {})


COMPUTED = {
    "Backup-Db.ps1": {
        "connInfo": ["ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database $Database"],
        "outPath": ["Resolve-PgReconcilePath -Path $OutDir"]},
    "Restore-Db.ps1": {
        "connInfo": ["ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database 'postgres'"],
        "backupPath": ["Resolve-PgReconcilePath -Path $Path"]},
    "Invoke-Reconcile.ps1": {
        "connInfo": ["ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database $Database"],
        "projectPath": ["Resolve-PgReconcilePath -Path $ProjectDir"],
        "backupPath": ["Resolve-PgReconcilePath -Path $BackupDir"],
        "stamp": ["Get-PgReconcileStamp"],
        "reportPath": ["Join-Path -Path (Resolve-PgReconcilePath -Path $ReportDir) "
                       "-ChildPath ($Database + '-' + $stamp)"],
        "pythonPath": ["$Python", "Resolve-PgReconcilePath -Path $Python"]},
    "Register-MaintenanceTask.ps1": {
        "projectPath": ["Resolve-PgReconcilePath -Path $ProjectDir"],
        "logPath": ["Resolve-PgReconcilePath -Path $LogDir"],
        "reportPath": ["Resolve-PgReconcilePath -Path $ReportDir",
                       "Join-Path -Path $logPath -ChildPath 'reports'"],
        "cliPath": ["Resolve-PgReconcileCli -Path $PgReconcile"],
        "windowTexts": ["@($MaintenanceWindow -split ';' | ForEach-Object { $_.Trim() } "
                        "| Where-Object { $_ })"],
        "credentialFile": ["$null", "Resolve-PgReconcilePath -Path $CredentialPath",
                           "Join-Path -Path $env:LOCALAPPDATA -ChildPath ('pgreconcile\\' + "
                           "$TaskName + '.credential.xml')"],
        "pythonPath": ["$Python", "Resolve-PgReconcilePath -Path $Python"]},
}


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_values_the_tests_give_are_what_the_scripts_compute(name):
    """The *_values() helpers give the results of these statements (ConvertTo-PgConnInfo is
    pg_conninfo(), Resolve-PgReconcilePath is cli_path(), ...)."""
    script = _script(name)
    for variable, expected in COMPUTED[name].items():
        assert assignments_to(script, variable) == expected, variable


# --------------------------------------------------------------------------- Backup-Db
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
    bind(backup_script, bound)
    arguments = command_line(argument_template(backup_script), bound, backup_values(bound),
                             what_if=what_if)
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
        bind(backup_script, bound)


def test_backup_db_refuses_parallel_jobs_into_one_file(backup_script, tmp_path):
    """The script throws before calling the CLI, and the CLI refuses the same command line."""
    s = backup_script
    [guard] = [n for n in s.of_type("if_statement")
               if s.text(next(c for c in n.children if c.type == "pipeline"))
               == "$Jobs -gt 1 -and $Format -ne 'directory'"]
    assert "needs -Format directory" in s.text(guard)
    assert any(c.children[0].type == "throw" for c in s.of_type("flow_control_statement",
                                                                under=guard))
    [call] = commands_named(s, "Invoke-PgReconcileCli")
    assert guard.end_byte < call.start_byte
    bound = {**BACKUP_BASE, "OutDir": str(tmp_path / "b"), "Jobs": 2}
    code, refused = run_cli(command_line(argument_template(s), bound, backup_values(bound)))
    assert code == 2 and refused["error"] == "UsageError"
    assert "--format directory" in refused["message"]


# --------------------------------------------------------------------------- Restore-Db
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
    bind(restore_script, bound)
    arguments = command_line(argument_template(restore_script), bound, restore_values(bound),
                             what_if=what_if)
    ns = parse_cli(arguments)
    assert ns.command == "restore"
    assert ns.path == os.path.abspath(bound["Path"])
    assert ns.target_db == bound["Database"]
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 "postgres")
    for key, value in expect.items():
        assert getattr(ns, key) == value, key


def test_restore_db_asks_first_through_should_process(restore_script):
    """A restore is ConfirmImpact High: ShouldProcess asks unless -Confirm:$false, and the
    script never lowers $ConfirmPreference to get there."""
    s = restore_script
    assert binding_setting(s, "ConfirmImpact") == "High"
    assert "supportsshouldprocess" in (cmdlet_binding_arguments(s) or {})
    assert assignments_to(s, "ConfirmPreference") == []
    assert any(re.search(r"\$PSCmdlet\.ShouldProcess\(\$target, \$action\)", s.text(n))
               for n in s.of_type("if_statement"))


# --------------------------------------------------------------------------- Invoke-Reconcile
RECONCILE_BASE = {"Database": "pettycash", "ProjectDir": str(EXAMPLE)}


def invoke_line(script: Script, bound: dict, what_if: bool = False) -> list[str]:
    bind(script, bound)
    return command_line(argument_template(script), bound, invoke_values(bound), what_if=what_if)


def reconcile_subparser():
    return build_parser()._subparsers._group_actions[0].choices["reconcile"]


@pytest.mark.parametrize("bound, what_if, expect", [
    (RECONCILE_BASE, False,
     {"dry_run": False, "pk_strategy": "keep", "backfill": "stable", "drop_extra": False,
      "rollback": "reverse",
      "allow_destructive": False, "maintenance_window": None, "no_backup": False, "keep": 7,
      "settings": None, "python": None, "run_tests": False, "lock_timeout": "2s",
      "no_test_restore": False}),
    ({**RECONCILE_BASE, "Check": True}, False, {"dry_run": True, "allow_destructive": False}),
    (RECONCILE_BASE, True, {"dry_run": True}),
    ({**RECONCILE_BASE, "AllowDestructive": True, "PkStrategy": "swap"}, False,
     {"dry_run": False, "pk_strategy": "swap", "allow_destructive": True}),
    ({**RECONCILE_BASE, "DropExtra": True, "AllowDestructive": True}, False,
     {"dry_run": False, "drop_extra": True, "allow_destructive": True}),
    ({**RECONCILE_BASE, "DropExtra": True, "Check": True}, False,
     {"dry_run": True, "drop_extra": True, "allow_destructive": False}),
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
], ids=["defaults", "check", "whatif", "destructive-swap", "drop-extra", "drop-extra-check",
        "window", "two-windows", "every-option"])
def test_invoke_reconcile_builds_arguments_the_cli_parses(invoke_script, bound, what_if, expect):
    ns = parse_cli(invoke_line(invoke_script, bound, what_if))
    assert ns.command == "reconcile"
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 bound["Database"])
    assert ns.project_dir == str(EXAMPLE)
    assert ns.out_dir == cli_path(bound.get("BackupDir", "backups"))
    assert ns.report_dir == run_folder(bound.get("ReportDir", "reports"), bound["Database"])
    for key, value in expect.items():
        assert getattr(ns, key) == value, key
    if ns.maintenance_window:
        assert MaintenanceWindows.parse(ns.maintenance_window) is not None


def test_invoke_reconcile_check_is_whatif(invoke_script):
    assert (invoke_line(invoke_script, {**RECONCILE_BASE, "Check": True})
            == invoke_line(invoke_script, RECONCILE_BASE, what_if=True))


def output_types(script: Script) -> set[str]:
    block = param_block(script)
    return {string_value(script, a)
            for attribute in script.of_type("attribute", under=block)
            if script.text(attribute).lstrip("[").lower().startswith("outputtype")
            for a in script.of_type("attribute_argument", under=attribute)}


def test_invoke_reconcile_returns_typed_reports(invoke_script):
    """A run returns PgReconcile.Report; -Check and -WhatIf (the --dry-run branches) return
    PgReconcile.ReconcilePlan."""
    s = invoke_script
    assert output_types(s) == {"PgReconcile.Report", "PgReconcile.ReconcilePlan"}
    typed = {}
    for node in s.of_type("assignment_expression"):
        if assigns_to(s, node, "typeName"):
            branch = s.text(clause_condition(s, node))
            block = inside(node, "statement_block")
            typed[branch] = (string_value(s, assignment_parts(s, node)[2]),
                             "'--dry-run'" in s.text(block))
    assert typed == {"$Check": ("PgReconcile.ReconcilePlan", True),
                     "$skipPrompt -or $PSCmdlet.ShouldProcess($target, $action)":
                         ("PgReconcile.Report", False),
                     "$WhatIfPreference": ("PgReconcile.ReconcilePlan", True)}
    [call] = commands_named(s, "Invoke-PgReconcileCli")
    assert variable_name(s, command_arguments(s, call)["typename"]) == "typename"


def test_invoke_reconcile_value_sets_are_the_clis_choices(invoke_script):
    params = script_parameters(invoke_script)
    options = reconcile_subparser()._option_string_actions
    for name, option in {"pkstrategy": "--pk-strategy", "backfill": "--backfill",
                         "rollback": "--rollback"}.items():
        assert sorted(params[name].choices) == sorted(options[option].choices), name
        default = string_value(invoke_script, params[name].default)
        assert default == options[option].default, name


def test_invoke_reconcile_asks_before_destructive_runs(invoke_script):
    """ConfirmImpact High with ShouldProcess for every run that may change the schema;
    -Force waives the prompt only without -Confirm and -WhatIf; $ConfirmPreference is
    never touched."""
    s = invoke_script
    assert binding_setting(s, "ConfirmImpact") == "High"
    assert assignments_to(s, "ConfirmPreference") == []
    assert assignments_to(s, "skipPrompt") == [
        "$Force -and -not $WhatIfPreference -and -not $PSBoundParameters.ContainsKey('Confirm')"]


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
    ({**RECONCILE_BASE, "Credential": "c", "CredentialPath": "c.xml"}, "parameter set"),
    ({**RECONCILE_BASE, "Password": "secret"}, "no parameter"),
], ids=["no-project", "injection", "pk-strategy", "backfill", "rollback", "lock-timeout",
        "batch-delay-comma", "batch-size", "settings", "two-credentials", "password-parameter"])
def test_invoke_reconcile_parameter_validation_refuses_bad_values(invoke_script, bound, reason):
    with pytest.raises(ParameterRejected, match=reason):
        bind(invoke_script, bound)


def test_invoke_reconcile_reads_a_credential_file_for_unattended_runs(invoke_script):
    s = invoke_script
    assert bind(s, {**RECONCILE_BASE, "CredentialPath": "c.xml"}) == "CredentialFile"
    assert bind(s, RECONCILE_BASE) == "Credential"
    [read] = [a for a in s.of_type("assignment_expression") if assigns_to(s, a, "Credential")]
    assert s.text(core(assignment_parts(s, read)[2])) == \
        "Import-PgReconcileCredential -Path $CredentialPath"
    assert s.text(clause_condition(s, read)) == "$PSCmdlet.ParameterSetName -eq 'CredentialFile'"
    [call] = commands_named(s, "Invoke-PgReconcileCli")
    assert variable_name(s, command_arguments(s, call)["credential"]) == "credential"
    assert read.end_byte < call.start_byte
    every = invoke_line(s, {**RECONCILE_BASE, "CredentialPath": "c.xml", "Force": True})
    assert not [a for a in every if "credential" in a.lower() or "password" in a.lower()]
    # The transcript starts before the CLI runs and is stopped in finally.
    [started] = commands_named(s, "Start-Transcript")
    [stopped] = commands_named(s, "Stop-Transcript")
    final = inside(stopped, "finally_clause")
    assert started.end_byte < final.parent.start_byte < call.start_byte < final.start_byte


def test_invoke_reconcile_rethrows_cli_errors_with_the_run_report(invoke_script):
    """Exit 3/4 stay terminating errors with the CLI's message and hint (the same record is
    rethrown), and carry the path and content of the failed run's report.json."""
    s = invoke_script
    [call] = commands_named(s, "Invoke-PgReconcileCli")
    guard = inside(call, "try_statement")
    catch = next(s.of_type("catch_clause", under=guard))
    body = s.text(catch)
    assert "Data['ReportPath'] = $reportFile" in body and "Data['Report'] =" in body
    statements = next(s.of_type("statement_list", under=catch)).named_children
    assert s.text(statements[-1]) == "$PSCmdlet.ThrowTerminatingError($failure)"
    assert any(s.text(st) == "$failure = $_" for st in statements)
    # $reportFile is report.json inside the folder given to --report-dir.
    assert assignments_to(s, "reportFile") == \
        ["Join-Path -Path $reportPath -ChildPath 'report.json'"]
    base = [s.text(core(e)) for e in argument_template(s).base]
    assert base[base.index("'--report-dir'") + 1] == "$reportPath"


# --------------------------------------------------------------------------- maintenance windows
WINDOWS_OK = ["Sat 01:00-03:00 UTC", "sat 1:00-3:00", "Mon-Fri 22:00-23:30 UTC",
              "Sat,Sun 02:00-04:00", "Fri-Mon 23:00-01:30 UTC", "daily 23:30-00:30",
              "Saturday 01:00-03:00 UTC", "  Sat 01:00 - 03:00  UTC ", "Sun 22:00-24:00 UTC",
              "Mon-Wed,Fri 00:00-00:15 utc", "Sat 01:00-03:00 Europe/Berlin"]
WINDOWS_BAD = ["garbage", "Sat", "Sat 01:00", "Sat 1-3", "01:00-03:00 UTC",
               "Sat 25:00-26:00 UTC", "Sat 01:60-03:00", "Xyz 01:00-03:00",
               "Sat 01:00-24:30 UTC", "Sat 00:00-24:00 UTC", "Sat 01:00-03:00 Mars/Olympus",
               "Sat 01:00-03:00 UTC -AllowDestructive", 'Sat 01:00-03:00" -AllowDestructive "',
               "Sat 01:00-03:00 UTC\n-Force", "--allow-destructive",
               " ; "]  # only separators: the engine refuses it rather than read "no window"


@pytest.mark.parametrize("path", WINDOW_PATHS, ids=_ids(WINDOW_PATHS))
def test_scripts_check_windows_with_the_cli_and_carry_no_grammar(path):
    """-MaintenanceWindow has no ValidatePattern; the script hands it to
    Assert-PgReconcileWindow (pgreconcile window) before anything else happens."""
    s = Script.load(path)
    param = script_parameters(s)["maintenancewindow"]
    assert param.pattern is None and param.types == ["string[]"]
    [check] = commands_named(s, "Assert-PgReconcileWindow")
    window = command_arguments(s, check)["window"]
    assert variable_name(s, window) in {"maintenancewindow", "windowtexts"}
    assert variable_name(s, command_arguments(s, check)["clipath"]) == "pgreconcile"
    later = [c for c in s.of_type("command") if c.start_byte > check.end_byte
             and command_name(s, c).lower() in ("invoke-pgreconcilecli", "start-transcript",
                                                "register-scheduledtask", "export-clixml",
                                                "import-pgreconcilecredential")]
    earlier = [c for c in s.of_type("command") if c.end_byte < check.start_byte
               and command_name(s, c) in {command_name(s, x) for x in later}]
    assert later and not earlier


def test_window_check_is_the_cli_window_command(common_script):
    assert window_call(common_script, "Sat 01:00-03:00 UTC") == ["window", "Sat 01:00-03:00 UTC"]
    parsed = parse_cli(window_call(common_script, "Sat 01:00-03:00 UTC"))
    assert parsed.command == "window" and parsed.maintenance_window == "Sat 01:00-03:00 UTC"
    body = common_script.function("Assert-PgReconcileWindow")
    [call] = commands_named(common_script, "Invoke-PgReconcileCli", under=body)
    assert variable_name(common_script, command_arguments(common_script, call)["arguments"]) \
        == "cliargs"


def test_window_check_rejects_sat_00_24_and_accepts_sat_01_03(common_script):
    code, refused = run_cli(window_call(common_script, "Sat 00:00-24:00 UTC"))
    assert code == 2, refused
    assert refused["error"] == "UsageError" and "has no length" in refused["message"]
    assert set(fields_read_from_cli_document(common_script)) <= set(refused)
    code, accepted = run_cli(window_call(common_script, "Sat 01:00-03:00 UTC"))
    assert code == 0, accepted
    assert accepted["set"] is True and accepted["windows"] == "Sat 01:00-03:00 UTC"


@pytest.mark.parametrize("window", WINDOWS_OK)
def test_window_check_accepts_windows_the_engine_reads(common_script, window):
    code, status = run_cli(window_call(common_script, window))
    assert code == 0, status
    assert status["set"] is True


@pytest.mark.parametrize("window", WINDOWS_BAD)
def test_window_check_rejects_garbage(common_script, window):
    """Exit 2, a terminating error in Invoke-PgReconcileCli (with the engine's message and
    hint when it could print them; argparse refuses a value that looks like an option)."""
    code, refused = run_cli(window_call(common_script, window))
    assert code == 2, refused
    if not window.startswith("-"):
        assert refused["error"] == "UsageError" and refused["message"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_window_check_refuses_text_without_a_window(common_script, blank):
    """The engine reads blank text as no window at all; the script then throws."""
    code, status = run_cli(window_call(common_script, blank))
    assert code == 0 and status["set"] is False
    s = common_script
    body = s.function("Assert-PgReconcileWindow")
    [guard] = [n for n in s.of_type("if_statement", under=body)
               if s.text(next(c for c in n.children if c.type == "pipeline")) == "-not $status.set"]
    assert "ThrowTerminatingError" in s.text(guard)
    assert assignments_to(s, "status") == ["Invoke-PgReconcileCli -Arguments $cliArgs -CliPath "
                                           "$CliPath -TypeName 'PgReconcile.MaintenanceWindow'"]


def test_windows_joined_for_the_task_are_one_valid_invoke_reconcile_value(common_script):
    joined = "; ".join(WINDOWS_OK)
    code, status = run_cli(window_call(common_script, joined))
    assert code == 0, status
    assert len(status["windows"].split("; ")) == len(WINDOWS_OK)


def test_register_task_triggers_refuse_windows_outside_utc(register_script):
    """The engine reads any time zone; the task's triggers are pinned to UTC, so the script's
    reader of an accepted window throws for any other zone."""
    s = register_script
    reader = s.function("ConvertFrom-MaintenanceWindow")
    [guard] = [n for n in s.of_type("if_statement", under=reader)
               if s.text(next(c for c in n.children if c.type == "pipeline"))
               == "$zone -and $zone -ne 'UTC'"]
    assert "pinned to UTC" in s.text(guard)
    assert any(c.children[0].type == "throw" for c in s.of_type("flow_control_statement",
                                                                under=guard))


# --------------------------------------------------------------------- Register-MaintenanceTask
REGISTER_BASE = {"Database": "pettycash", "ProjectDir": str(EXAMPLE),
                 "MaintenanceWindow": ["Sat 01:00-03:00 UTC"], "BackupDir": "backups",
                 "LogDir": "logs"}


@pytest.mark.parametrize("name", sorted(NOT_CLI))
def test_scripts_that_run_no_cli_command_run_only_the_window_check(name):
    script = _script(name)
    assert not commands_named(script, "Invoke-PgReconcileCli")
    assert not cli_subcommand_of(script)
    assert not [option for option, _ in option_literals(script)], "passes CLI options"
    assert len(commands_named(script, "Assert-PgReconcileWindow")) == 1


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


def test_register_task_shows_the_task_under_whatif(register_script):
    """What -WhatIf shows (action, triggers, settings, the summary) is built outside any
    ShouldProcess block; only registering it is inside one, which also marks it Registered."""
    s = register_script
    for name in ("New-ScheduledTaskAction", "New-ScheduledTaskTrigger",
                 "New-ScheduledTaskSettingsSet"):
        [command] = commands_named(s, name)
        assert should_process_guard(s, command) is None, name
    registered = [a for a in s.of_type("assignment_expression")
                  if s.text(assignment_parts(s, a)[0]) == "$summary.Registered"]
    assert [should_process_guard(s, a) is not None for a in registered] == [True]
    assert s.text(s.root.children[-1]).rstrip().endswith("$summary")


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
    assert commands_named(register_script, "New-ScheduledTaskAction")
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


@pytest.mark.parametrize("bound, expect", [
    (REGISTER_BASE, {"maintenance_window": "Sat 01:00-03:00 UTC", "allow_destructive": False,
                     "pk_strategy": "keep", "dry_run": False}),
    ({**REGISTER_BASE, "MaintenanceWindow": ["Sat 01:00-03:00 UTC; Wed 22:00-23:00"],
      "AllowDestructive": True, "DropExtra": True, "PkStrategy": "swap", "SqlInstance": "db01",
      "Port": 5433,
      "ReportDir": "D/reports", "Settings": "pettycash_system.settings",
      "Python": sys.executable, "Keep": 4, "RunTests": True, "TestSettings": "staging_settings",
      "LockTimeout": "1s", "BatchSize": 5000, "BatchDelay": "0.5", "Rollback": "restore",
      "PgBinDir": BIN_DIR, "CredentialPath": "<tmp>"},
     {"maintenance_window": "Sat 01:00-03:00 UTC; Wed 22:00-23:00", "allow_destructive": True,
      "drop_extra": True, "pk_strategy": "swap", "settings": "pettycash_system.settings",
      "python": sys.executable,
      "keep": 4, "run_tests": True, "test_settings": "staging_settings", "lock_timeout": "1s",
      "batch_size": 5000, "batch_delay": 0.5, "rollback": "restore", "pg_bin_dir": BIN_DIR}),
], ids=["defaults", "every-option"])
def test_scheduled_task_runs_invoke_reconcile_with_arguments_the_cli_parses(
        register_script, invoke_script, tmp_path, bound, expect):
    """The task's Invoke-Reconcile.ps1 arguments bind to its parameters, and the command line
    Invoke-Reconcile.ps1 builds from them is one the CLI parses."""
    if bound.get("CredentialPath") == "<tmp>":
        credential_file = tmp_path / "pettycash.credential.xml"
        credential_file.write_text("<Objs/>")
        bound = {**bound, "CredentialPath": str(credential_file)}
    assert bind(register_script, bound) == "Register"
    tokens = command_line(argument_template(register_script, "scriptArgs"), bound,
                          register_values(bound))
    assert "-Force" in tokens  # unattended: never waits for a prompt
    invoke_bound = bind_tokens(invoke_script, tokens)
    parameter_set = bind(invoke_script, invoke_bound)
    assert invoke_bound["LogDir"] == cli_path("logs")
    assert invoke_bound["PgReconcile"] == TASK_CLI
    ns = parse_cli(command_line(argument_template(invoke_script), invoke_bound,
                                invoke_values(invoke_bound)))
    assert ns.command == "reconcile" and ns.project_dir == str(EXAMPLE)
    assert ns.dsn == pg_conninfo(bound.get("SqlInstance", "localhost"), bound.get("Port", 5432),
                                 "pettycash")
    assert ns.out_dir == cli_path("backups")
    report_dir = cli_path(bound["ReportDir"]) if "ReportDir" in bound else \
        os.path.join(cli_path("logs"), "reports")
    assert ns.report_dir == run_folder(report_dir, "pettycash")
    for key, value in expect.items():
        assert getattr(ns, key) == value, key
    if "CredentialPath" in bound:
        assert parameter_set == "CredentialFile"
        assert invoke_bound["CredentialPath"] == bound["CredentialPath"]
    else:
        assert "CredentialPath" not in invoke_bound and parameter_set == "Credential"


@pytest.mark.parametrize("bound, reason", [
    ({k: v for k, v in REGISTER_BASE.items() if k != "MaintenanceWindow"},
     "-MaintenanceWindow is mandatory"),
    ({k: v for k, v in REGISTER_BASE.items() if k != "LogDir"}, "-LogDir is mandatory"),
    ({**REGISTER_BASE, "TaskName": "a\\b"}, "does not match"),
    ({**REGISTER_BASE, "Unregister": True}, "parameter set"),
    ({**REGISTER_BASE, "NoBackup": True}, "no parameter"),
], ids=["no-window", "no-logdir", "task-name", "unregister-and-register", "no-backup"])
def test_register_task_parameter_validation_refuses_bad_values(register_script, bound, reason):
    with pytest.raises(ParameterRejected, match=reason):
        bind(register_script, bound)


def test_register_task_refuses_a_missing_credential_file(register_script):
    s = register_script
    [guard] = [n for n in s.of_type("elseif_clause")
               if s.text(next(c for c in n.children if c.type == "pipeline"))
               == "$credentialFile -and -not (Test-Path -LiteralPath $credentialFile "
                  "-PathType Leaf)"]
    assert "does not exist" in s.text(guard)
    assert any(c.children[0].type == "throw" for c in s.of_type("flow_control_statement",
                                                                under=guard))


def test_unregister_needs_only_the_database(register_script):
    s = register_script
    assert bind(s, {"Database": "pettycash", "Unregister": True}) == "Unregister"
    [branch] = [n for n in s.of_type("if_statement")
                if s.text(next(c for c in n.children if c.type == "pipeline")) == "$Unregister"]
    [remove] = commands_named(s, "Unregister-ScheduledTask")
    assert inside(remove, "if_statement") is not branch and should_process_guard(s, remove)
    assert branch.start_byte < remove.start_byte < branch.end_byte
    assert s.text(core(next(s.of_type("statement_list", under=branch)).named_children[-1])) \
        == "return"
    [register] = commands_named(s, "Register-ScheduledTask")[:1]
    assert branch.end_byte < register.start_byte
    assert commands_named(s, "Write-Warning", under=branch)  # when there is no such task


def test_register_task_time_limit_and_trigger_follow_the_window(register_script):
    """ExecutionTimeLimit = the longest window + grace; weekly UTC-pinned triggers."""
    s = register_script
    text = {command_name(s, c): command_arguments(s, c) for c in s.of_type("command")}
    trigger = text["New-ScheduledTaskTrigger"]
    assert {"weekly", "daysofweek", "at"} <= set(trigger)
    settings = text["New-ScheduledTaskSettingsSet"]
    assert variable_name(s, settings["executiontimelimit"]) == "timelimit"
    assert assignments_to(s, "timeLimit") == ["$longest + [timespan]::FromMinutes($GraceMinutes)"]
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


def backup_line(script: Script, bound: dict, what_if: bool = False) -> list[str]:
    bind(script, bound)
    return command_line(argument_template(script), bound, backup_values(bound), what_if=what_if)


def restore_line(script: Script, bound: dict, what_if: bool = False) -> list[str]:
    bind(script, bound)
    return command_line(argument_template(script), bound, restore_values(bound),
                        what_if=what_if)


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
    code, result = run_cli(backup_line(backup_script, bound), db)
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
    arguments = backup_line(backup_script, bound, what_if=True)
    assert "--dry-run" in arguments
    code, result = run_cli(arguments, db)
    assert code == 0, result
    assert result["would_change"] is True and result["changed"] is False
    assert result["database"] == db.dbname and result["pg_dump"]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_restore_db_call_restores_into_a_new_database(backup_script, restore_script,
                                                      common_script, db, server, tmp_path):
    _seed(db)
    code, backup = run_cli(backup_line(backup_script, {
        "Database": db.dbname, **_server_bound(db), "OutDir": str(tmp_path / "backups")}), db)
    assert code == 0, backup

    target = f"{TEST_DB_PREFIX}restored_{secrets.token_hex(4)}"
    bound = {"Path": backup["path"], "Database": target, **_server_bound(db)}
    try:
        code, planned = run_cli(restore_line(restore_script, bound, what_if=True), db)
        assert code == 0, planned
        assert planned["verified"] is True and planned["changed"] is False
        assert not query(server, "SELECT 1 FROM pg_database WHERE datname = %s", (target,))

        code, restored = run_cli(restore_line(restore_script, bound), db)
        assert code == 0, restored
        assert restored["target_db"] == target
        assert restored["verified"] is True and restored["row_counts_match"] is True
        assert query(server.with_dbname(target), "SELECT count(*) FROM payment") == [(500,)]

        # Restoring over it again without -Replace is refused: exit 4 and the error document
        # Invoke-PgReconcileCli turns into a terminating error.
        code, refused = run_cli(restore_line(restore_script, bound), db)
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
    arguments = invoke_line(invoke_script, _reconcile_bound(drifted, tmp_path, Check=True))
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
    arguments = invoke_line(invoke_script, _reconcile_bound(drifted, tmp_path, Keep=2,
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
    """The window passes the script's check (a valid window, closed now); the run then
    exits 4 with the error document Invoke-PgReconcileCli turns into a terminating error,
    and the run's report.json the wrapper attaches to it."""
    closed = closed_window()
    code, status = run_cli(window_call(common_script, closed))
    assert code == 0 and status["set"] is True and status["open"] is False
    arguments = invoke_line(invoke_script, _reconcile_bound(db, tmp_path,
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


def test_common_returns_a_paused_run_as_a_warning_not_an_error(common_script):
    """Exit code 5 (paused at the window's end) is not a failure: the branch for it warns and
    returns the CLI's document before the branch that throws for every other non-zero code."""
    s = common_script
    body = s.function("Invoke-PgReconcileCli")
    ifs = [n for n in s.of_type("if_statement", under=body)
           if "$exitCode" in s.text(n).split("{", 1)[0]]
    conditions = [s.text(n).split("{", 1)[0] for n in ifs]
    paused = next(i for i, c in enumerate(conditions) if "-eq 5" in c)
    failing = next(i for i, c in enumerate(conditions) if "-ne 0" in c)
    assert paused < failing
    branch = s.text(ifs[paused])
    assert "Write-Warning" in branch and "return $document" in branch
    assert "ThrowTerminatingError" not in branch


# ------------------------------------------------------------------- issue 14: Windows hosts
# Destructive scripts ask through ShouldProcess at ConfirmImpact High; every value that reaches
# the CLI survives Windows PowerShell 5.1's native command line, or is refused first.
DESTRUCTIVE = ["Restore-Db.ps1", "Invoke-Reconcile.ps1", "Register-MaintenanceTask.ps1"]
INSTANCE_PATHS = [p for p in WRAPPER_PATHS if "sqlinstance" in script_parameters(Script.load(p))]


@pytest.mark.parametrize("name", DESTRUCTIVE)
def test_destructive_scripts_ask_at_confirm_impact_high_through_should_process(name):
    s = _script(name)
    binding = cmdlet_binding_arguments(s) or {}
    assert "supportsshouldprocess" in binding
    assert binding_setting(s, "ConfirmImpact") == "High"
    assert assignments_to(s, "ConfirmPreference") == [], "lowers $ConfirmPreference instead"
    calls = [n for n in s.of_type("invokation_expression", "member_access", "pipeline")
             if re.fullmatch(r"\$PSCmdlet\.ShouldProcess\(.+\)", s.text(n), re.DOTALL)]
    assert calls, f"{name} never calls $PSCmdlet.ShouldProcess"


def test_every_script_with_a_server_takes_the_same_server_pattern():
    assert {p.name for p in INSTANCE_PATHS} >= {"Backup-Db.ps1", "Restore-Db.ps1",
                                                "Invoke-Reconcile.ps1",
                                                "Register-MaintenanceTask.ps1"}
    patterns = {script_parameters(Script.load(p))["sqlinstance"].pattern for p in INSTANCE_PATHS}
    assert len(patterns) == 1 and None not in patterns, patterns


@pytest.mark.parametrize("path", INSTANCE_PATHS, ids=_ids(INSTANCE_PATHS))
@pytest.mark.parametrize("server, accepted", [
    ("localhost", True), ("db01.example.com", True), ("10.0.0.5", True), ("::1", True),
    ("fe80::1%eth0", True), ("/var/run/postgresql", True), ("C:\\pg sockets", True),
    ('db01" --drop-extra "x', False), ("db01 --drop-extra", False), ("db01\n", False),
    ("db01\x00", False), ("", False), ('C:\\pg"sock', False), ("db01'x", False),
], ids=lambda v: repr(v) if isinstance(v, str) else str(v))
def test_sql_instance_refuses_quotes_spaces_and_control_characters(path, server, accepted):
    script = Script.load(path)
    bound = {**REQUIRED_VALUES[path.name], "SqlInstance": server}
    if accepted:
        bind(script, bound)
    else:
        with pytest.raises(ParameterRejected, match="SqlInstance"):
            bind(script, bound)


REQUIRED_VALUES = {
    "Backup-Db.ps1": {"Database": "pettycash", "OutDir": "D:\\backups"},
    "Restore-Db.ps1": {"Database": "pettycash", "Path": "D:\\b.dump"},
    "Invoke-Reconcile.ps1": {"Database": "pettycash", "ProjectDir": str(EXAMPLE)},
    "Register-MaintenanceTask.ps1": {"Database": "pettycash", "ProjectDir": str(EXAMPLE),
                                     "MaintenanceWindow": ["Sat 01:00-03:00 UTC"],
                                     "LogDir": "D:\\logs", "BackupDir": "D:\\backups"},
}


def test_the_injection_a_quote_in_sql_instance_would_make_is_real():
    """Without the pattern: PowerShell 5.1 would hand the CLI a --dsn value that stops at the
    quote and an option nobody typed."""
    dsn = "host='db01\" --drop-extra \"x' port='5432' dbname='pettycash'"
    line = ps51_command_line(["reconcile", "--dsn", dsn, "--project-dir", "D:\\src"])
    assert "--drop-extra" in msvcrt_argv(line)


def ps51_command_line(arguments: list[str]) -> str:
    """Windows PowerShell 5.1's (legacy) command line for a native program: an argument with
    whitespace outside double quotes is wrapped in double quotes, nothing is escaped, and an
    empty argument leaves nothing behind."""
    def needs_quotes(value: str) -> bool:
        quotes, after_backslash = 0, False
        for char in value:
            if char == '"' and not after_backslash:
                quotes += 1
            elif char.isspace() and quotes % 2 == 0:
                return True
            after_backslash = char == "\\"
        return False
    return " ".join(f'"{a}"' if needs_quotes(a) else a for a in arguments)


def msvcrt_argv(line: str) -> list[str]:
    """The arguments the Microsoft C runtime (python.exe's argv) reads from a command line:
    space/tab separate, double quotes group, 2n backslashes before a quote are n backslashes
    and the quote groups, 2n+1 are n and a literal quote, "" inside quotes is a quote."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        arg, quoted = [], False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                if j < n and line[j] == '"':
                    arg.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        arg.append('"')
                        j += 1
                else:
                    arg.append("\\" * (j - i))
                i = j
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                arg.append(line[i])
                i += 1
        args.append("".join(arg))


def argument_rules(common: Script) -> list[str]:
    """The refusal conditions of Assert-PgReconcileCliArgument, as written."""
    body = common.function("Assert-PgReconcileCliArgument")
    conditions = [common.text(next(c for c in n.children if c.type == "pipeline"))
                  for n in common.of_type("if_statement", "elseif_clause", under=body)]
    return [c for c in conditions if "$value" in c]


def refused_by(rules: list[str], value: str) -> bool:
    """Evaluates the rules (`$value -eq ''`, `$value -match '...'`, joined by -and)."""
    for rule in rules:
        results = []
        for part in re.split(r"\s+-and\s+", rule.strip("()")):
            if part == "$value -eq ''":
                results.append(value == "")
            elif found := re.fullmatch(r"\$value -match '((?:[^']|'')*)'", part):
                results.append(re.search(found[1].replace("''", "'"), value, re.I) is not None)
            else:
                raise AssertionError(f"a rule this test cannot read: {part!r}")
        if all(results):
            return True
    return False


def test_cli_argument_rules_are_the_ones_ps51_needs(common_script):
    rules = argument_rules(common_script)
    assert len(rules) == 4, rules
    for value in ['db01" --drop-extra "x', "", "a\nb", "tab\there", "D:\\My Backups\\",
                  "C:\\x\x7f"]:
        assert refused_by(rules, value), value
        assert msvcrt_argv(ps51_command_line(["a", value, "b"])) != ["a", value, "b"] \
            or "\t" in value or "\x7f" in value or "\n" in value, value
    for value in ["Sat 01:00-03:00 UTC; Sun 02:30-04:00 Europe/Berlin", "D:\\My Backups",
                  "C:\\", "host='db01' port='5432' dbname='it''s'", "pettycash_system.settings",
                  "\\\\server\\share\\pg bin"]:
        assert not refused_by(rules, value), value


def test_every_value_the_rules_accept_reaches_the_cli_intact(common_script):
    """The property behind the rules, over many generated values: whatever
    Assert-PgReconcileCliArgument lets through, PowerShell 5.1's command line hands to the
    CLI unchanged, as the same number of arguments."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    rules = argument_rules(common_script)
    values = st.text(alphabet=st.sampled_from(list('ab :;\\"\'-=\t\u00a0é')), max_size=12)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(values, min_size=1, max_size=4))
    def check(arguments):
        if any(refused_by(rules, a) for a in arguments):
            return
        assert msvcrt_argv(ps51_command_line(arguments)) == arguments
    check()


def test_every_cli_call_and_the_task_pass_the_argument_check_first(common_script,
                                                                   register_script):
    s = common_script
    body = s.function("Invoke-PgReconcileCli")
    [check] = commands_named(s, "Assert-PgReconcileCliArgument", under=body)
    assert s.text(check) == "Assert-PgReconcileCliArgument -Argument $Arguments"
    run = next(n for n in s.of_type("command", under=body) if s.text(n).startswith("& $exe"))
    password = next(a for a in s.of_type("assignment_expression", under=body)
                    if s.text(a).startswith("$env:PGPASSWORD"))
    assert check.end_byte < password.start_byte < run.start_byte
    r = register_script
    [task_check] = commands_named(r, "Assert-PgReconcileCliArgument")
    assert r.text(task_check) == "Assert-PgReconcileCliArgument -Argument $scriptArgs"
    [action] = commands_named(r, "New-ScheduledTaskAction")
    assert task_check.end_byte < action.start_byte


def test_windows_are_validated_by_the_cli_window_command_not_in_powershell(common_script):
    """A window with a quote is refused by the argument check; one the engine cannot read
    comes back from `pgreconcile window` as exit 2, the engine's own message."""
    rules = argument_rules(common_script)
    assert refused_by(rules, 'Sat 01:00-03:00 UTC" --drop-extra "')
    code, document = run_cli(window_call(common_script, "Sat 01:00-03:00 Mars/Olympus"))
    assert code == 2 and "time zone" in document["message"]
    code, document = run_cli(window_call(common_script, "Fri 23:00-01:30 America/New_York"))
    assert code == 0 and document["parts"][0]["tz"] == "America/New_York"
    for path in WINDOW_PATHS:
        text = path.read_text()
        assert not re.search(r"\[0-9\]\{1,2\}:\[0-9\]|\\d\{1,2\}:\\d|Mon\|Tue", text), path.name
