#!/usr/bin/python
"""Ansible face of the reconcile lock: one run's lock over all of its stages."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_lock
short_description: Take or release the lock of a pgreconcile run that spans several tasks
description:
  - A run of the role is one task per stage, each its own process, so the session advisory
    lock one process holds cannot cover the whole run. This module takes a lease instead
    (the row of C(pgreconcile.run_lock) in the live database), under the advisory lock, for
    O(run_id); the changing stages (M(pgreconcile_apply), M(pgreconcile_migrate),
    M(pgreconcile_verify), M(pgreconcile_rollback)) given the same O(run_id) renew it, and any
    other run, from Ansible or the command line, is refused while it lasts.
  - O(state=present) takes the lock (refused, naming the holder, when another run holds it);
    O(state=absent) releases it and never touches another run's lock.
  - A lease not renewed within O(ttl) seconds is over, so a run killed between its stages keeps
    others out only that long.
  - In check mode nothing is written; O(state=present) still says whether another run holds
    the lock.
version_added: "0.2.0"
author:
  - pgreconcile maintainers
options:
  state:
    description:
      - V(present) takes (or renews) the lock of O(run_id); V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  ttl:
    description:
      - Seconds the lease lasts after its last renewal.
    type: int
    default: 900
extends_documentation_fragment:
  - pgreconcile
attributes:
  check_mode:
    support: full
    description: Writes nothing; reports whether the lock could be taken.
  diff_mode:
    support: none
    description: No diff.
requirements:
  - The C(pgreconcile) Python package on the host running the module.
seealso:
  - module: pgreconcile_apply
"""

EXAMPLES = r"""
- name: Take the run's lock before the first change
  pgreconcile_lock:
    db_name: pettycash
    run_id: "{{ reconcile_run_id }}"
    state: present

- name: Release it, whatever happened
  pgreconcile_lock:
    db_name: pettycash
    run_id: "{{ reconcile_run_id }}"
    state: absent
"""

RETURN = r"""
run_id:
  description: The run whose lock was taken or released.
  returned: always
  type: str
  sample: 20261128T020000Z-a1b2c3
held:
  description: Whether the run holds the lock after the task.
  returned: always
  type: bool
seconds:
  description: Time the module took.
  returned: success
  type: float
"""

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "ttl": {"type": "int", "default": 900},
}


def lock(run) -> None:
    from pgreconcile.apply.lock import check_run_id, claim_run, reconcile_lock, release_run
    from pgreconcile.errors import UsageError

    params, result = run.params, run.result
    run_id = check_run_id(params["run_id"])
    if run_id is None:
        raise UsageError("pgreconcile_lock needs run_id", hint="the role sets reconcile_run_id")
    live = run.live
    result["run_id"] = run_id
    with live.connect(autocommit=True) as conn:
        if params["state"] == "absent":
            released = False if run.check_mode else release_run(conn, run_id)
            result.update(changed=released, held=False)
            return
        if run.check_mode:
            with reconcile_lock(conn, live.dbname, "start this run", None):
                pass  # refuses when another run holds the lock or a live lease
            result.update(changed=False, held=False)
            return
        claim_run(conn, live.dbname, run_id, f"ansible run {run_id}", ttl=params["ttl"])
        result.update(changed=True, held=True)


def main() -> None:
    run_module(lock, OPTIONS, supports_check_mode=True)


if __name__ == "__main__":
    main()
