#!/usr/bin/python
"""Ansible face of the promotion gate: check a rehearsal before production changes anything,
or write the promotion record after a clean staging run."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_promotion
short_description: The promotion gate - staging first, then production
description:
  - With O(state=check), before any change (no lock, backup or ledger), looks in
    O(record_dir) for a promotion record of the same migrations and the same plan shape
    (O(fingerprints), the C(promotion) result of M(pgreconcile_plan)) younger than
    O(max_age); fails with C(RehearsalMissing) (exit code 4) naming what is missing
    otherwise. A run with nothing to change needs no record. O(override_reason) proceeds
    without one; the result and the report show the reason.
  - With O(state=present), after a clean run (verify ok), writes the promotion record
    (JSON, mode 0600) into O(record_dir). In check mode nothing is written.
  - Connects to no database. The role runs it on the controller (C(delegate_to=localhost)),
    so O(record_dir) is a directory of the controller (or storage it mounts).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  state:
    description: V(check) the rehearsal before a change, or write the record (V(present)).
    type: str
    choices: [check, present]
    default: check
  record_dir:
    description: The directory of promotion records.
    type: path
    required: true
  fingerprints:
    description: The C(promotion) result of M(pgreconcile_plan) (migrations and plan shape digests).
    type: dict
    required: true
  max_age:
    description: How old a record may be, for example V(7d), V(36h), V(90m).
    type: str
    default: 7d
  override_reason:
    description: Proceed without a rehearsal, for this reason (shown in red in the report).
    type: str
    default: ""
  verify:
    description: The result of M(pgreconcile_verify) (V(state=present)); only a clean one is recorded.
    type: dict
    default: {}
  source:
    description: Where the rehearsal ran (host, database), kept in the record.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: V(check) reads only and never fails for want of a rehearsal (it warns what a
      real run would refuse); V(present) writes nothing.
  diff_mode:
    support: none
    description: Records are not compared.
requirements:
  - The C(pgreconcile) Python package on the host running the module (the controller).
"""

EXAMPLES = r"""
- name: Refuse production without a staging rehearsal
  pgreconcile_promotion:
    state: check
    record_dir: "{{ playbook_dir }}/rehearsals"
    fingerprints: "{{ reconcile_plan_result.promotion }}"
  delegate_to: localhost
"""

RETURN = r"""
promotion:
  description: The matching record (or the override and its reason, or the record written).
  returned: always
  type: dict
"""

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "state": {"type": "str", "choices": ["check", "present"], "default": "check"},
    "record_dir": {"type": "path", "required": True},
    "fingerprints": {"type": "dict", "required": True},
    "max_age": {"type": "str", "default": "7d"},
    "override_reason": {"type": "str", "default": ""},
    "verify": {"type": "dict", "default": {}},
    "source": {"type": "dict", "default": {}},
}


def gate(run) -> None:
    from pgreconcile.errors import UsageError
    from pgreconcile.runbook.promotion import Fingerprints, PromotionGate, write_record

    params = run.params
    raw = params["fingerprints"]
    try:
        prints = Fingerprints(str(raw["migrations_digest"]), str(raw["plan_shape_digest"]),
                              bool(raw["changes"]))
    except KeyError as exc:
        raise UsageError(f"fingerprints lacks {exc}: pass the promotion result of "
                         "pgreconcile_plan") from None
    if params["state"] == "check":
        reason = (params["override_reason"] or "").strip()
        gate = PromotionGate(directory=params["record_dir"], require=True,
                             max_age=params["max_age"], override=reason or None)
        # Check mode changes nothing, so it refuses nothing: it says what a real run would.
        result = gate.preview(prints) if run.check_mode else gate.check(prints)
        if reason:
            run.warn(f"REHEARSAL OVERRIDDEN: {reason}")
        if result.get("would_refuse"):
            run.warn(f"a real run would refuse: {result['would_refuse']}")
        run.result.update(promotion=result, changed=False)
        return
    if not params["verify"].get("ok"):
        raise UsageError("only a clean run (verify ok) writes a promotion record")
    if not prints.changes:
        run.result.update(promotion={"recorded": None, **prints.to_dict()}, changed=False)
        return
    if run.check_mode:
        run.result.update(promotion={"recorded": None, **prints.to_dict()}, changed=False)
        return
    path = write_record(params["record_dir"], prints, verify=params["verify"],
                        source=params["source"])
    run.result.update(promotion={"recorded": str(path), **prints.to_dict()}, changed=True)


def main() -> None:
    run_module(gate, OPTIONS, connection=False, supports_check_mode=True)


if __name__ == "__main__":
    main()
