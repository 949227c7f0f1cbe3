#!/usr/bin/python
"""Ansible face of `pgreconcile restore`: a verified backup into a named database."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_restore
short_description: Restore a verified pgreconcile backup into a named PostgreSQL database
description:
  - Re-verifies the backup against its manifest (every checksum, C(pg_restore --list)),
    creates O(target_db), restores into it and compares row counts and schema fingerprint
    with the manifest.
  - By default the target must not exist or be empty; an existing database with tables is
    only replaced with O(replace=true), and then only after a fresh backup of it is taken.
  - Every restore changes the server, so the module always reports C(changed).
    In check mode it only verifies the backup and changes nothing.
  - This module is a thin face of the C(pgreconcile) engine, like C(pgreconcile restore).
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  path:
    description:
      - The backup to restore, on the managed host - the C(.dump) file, the C(.dir) directory
        or its C(.manifest.json).
    type: path
    required: true
  target_db:
    description:
      - Database to restore into; created on the server O(db_host) and O(db_port) point at.
      - The connection options must name a database that exists (O(db_name)), used to reach
        the server; the target is created beside it.
    type: str
    required: true
  replace:
    description:
      - Allow replacing an existing O(target_db) (without it, an existing database, empty or
        not, is refused). New connections to it are blocked and open ones ended, then a
        backup of it is taken into O(safety_backup_dir), then it is replaced.
    type: bool
    default: false
  safety_backup_dir:
    description:
      - Where the backup of a replaced database goes. Defaults to the directory of O(path).
    type: path
  jobs:
    description:
      - Parallel C(pg_restore) workers.
    type: int
    default: 1
  no_owner:
    description:
      - Do not restore ownership and privileges (restore as the connecting role).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Verifies the backup against its manifest; restores nothing.
  diff_mode:
    support: full
    description: Shows which backup goes into which database.
extends_documentation_fragment:
  - pgreconcile
seealso:
  - module: pgreconcile_backup
"""

EXAMPLES = r"""
- name: Restore last night's backup into a new database beside the live one
  pgreconcile_restore:
    path: /var/backups/pgreconcile/pettycash-20250101T010203123456Z.dump
    target_db: pettycash_restored
    db_name: postgres

- name: Replace a database (a safety backup of it is taken first)
  pgreconcile_restore:
    path: "{{ backup.manifest }}"
    target_db: pettycash
    replace: true
    db_host: db.example.internal
    db_user: postgres
    db_password: "{{ vault_reconcile_db_password }}"
  no_log: true
"""

RETURN = r"""
path:
  description: The backup restored (or verified, in check mode).
  returned: always
  type: str
target_db:
  description: Database restored into.
  returned: success, not in check mode
  type: str
verified:
  description: True when the restored row counts and schema fingerprint match the manifest
    (not in check mode), or when the backup passed verification (check mode).
  returned: always
  type: bool
row_counts_match:
  description: Row counts of the restored database equal the manifest's.
  returned: success, not in check mode
  type: bool
fingerprint_match:
  description: Schema fingerprint of the restored database equals the manifest's.
  returned: success, not in check mode
  type: bool
replaced:
  description: Whether an existing database was replaced.
  returned: success, not in check mode
  type: bool
safety_backup:
  description: Backup taken of the replaced database, or null.
  returned: success, not in check mode
  type: str
duration_s:
  description: Seconds the restore took.
  returned: success, not in check mode
  type: float
checks:
  description: What verification checked (sha256, TOC entries, readability).
  returned: check mode
  type: dict
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (4 when refused).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(RestoreRefused) or C(BackupUnverified).
  returned: failure
  type: str
hint:
  description: What to do next.
  returned: failure
  type: str
"""

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "path": {"type": "path", "required": True},
    "target_db": {"type": "str", "required": True},
    "replace": {"type": "bool", "default": False},
    "safety_backup_dir": {"type": "path"},
    "jobs": {"type": "int", "default": 1},
    "no_owner": {"type": "bool", "default": False},
}


def restore(run) -> None:
    from pgreconcile.pg.backup import preview_restore, restore_backup

    params = run.params
    run.show_diff("", f"restore {params['path']} into database {params['target_db']}"
                      f"{' (replacing it)' if params['replace'] else ''}\n",
                  params["target_db"], params["target_db"])
    if run.check_mode:
        checked = preview_restore(params["path"], run.live, params["target_db"],
                                  replace=params["replace"], pg_bin_dir=params["pg_bin_dir"])
        run.result.update(checked, changed=True)
        return
    restored = restore_backup(params["path"], run.live, params["target_db"],
                              replace=params["replace"], jobs=params["jobs"],
                              pg_bin_dir=params["pg_bin_dir"],
                              safety_backup_dir=params["safety_backup_dir"],
                              no_owner=params["no_owner"]).to_dict()
    run.result.update(restored, changed=True)


def main() -> None:
    run_module(restore, OPTIONS, supports_check_mode=True)


if __name__ == "__main__":
    main()
