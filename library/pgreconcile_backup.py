#!/usr/bin/python
"""Ansible face of `pgreconcile backup`: a verified pg_dump with a manifest."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgreconcile_backup
short_description: Take a PostgreSQL backup that is proven before it is called a backup
description:
  - Dumps one database with C(pg_dump) to a hidden temporary name, fsyncs it, proves
    C(pg_restore --list) can read it, then renames it and writes a manifest beside it
    (server and C(pg_dump) versions, size, sha256 of every file, exact per-table row counts
    taken in the dumped snapshot, and a schema fingerprint). Files are mode 0600.
  - A C(pg_dump) that exits 0 but printed errors or wrote an empty or unreadable file is a
    failure, and no file that looks like a backup is left behind.
  - With O(test_restore=true) the backup is restored into a scratch database on the same server,
    compared with the manifest, and the scratch database is dropped.
  - Every run writes a new backup, so the module always reports C(changed).
    In check mode it connects, finds the C(pg_dump) it would use and reports what it would
    dump, and writes nothing.
  - This module is a thin face of the C(pgreconcile) engine; C(pgreconcile backup) on the
    command line and C(scripts/Backup-Db.ps1) produce the same backup and manifest.
version_added: "0.1.0"
author:
  - pgreconcile maintainers
options:
  out_dir:
    description:
      - Directory the backup and its manifest are written to, on the managed host.
      - Created (mode 0700) when missing. Its free space is checked against the database size first.
    type: path
    required: true
  format:
    description:
      - C(custom) writes one C(.dump) file; C(directory) writes a C(.dir) directory and
        allows a parallel dump with O(jobs).
    type: str
    choices: [custom, directory]
    default: custom
  jobs:
    description:
      - Parallel C(pg_dump) workers. More than 1 needs O(format=directory).
    type: int
    default: 1
  test_restore:
    description:
      - Restore the new backup into a scratch database and compare row counts and schema
        fingerprint with the manifest. Needs the right to create databases.
    type: bool
    default: false
  keep:
    description:
      - Keep only the newest O(keep) verified backups of this database in O(out_dir).
        The backup just made is never removed.
      - Unset keeps every backup.
    type: int
attributes:
  check_mode:
    support: full
    description: Connects and reports what would be dumped; writes nothing.
  diff_mode:
    support: full
    description: Shows the backup file that is (or would be) written.
extends_documentation_fragment:
  - pgreconcile
seealso:
  - module: pgreconcile_restore
"""

EXAMPLES = r"""
- name: Back up the database the PG* variables point at
  pgreconcile_backup:
    out_dir: /var/backups/pgreconcile

- name: Back up, prove it by restoring into a scratch database, keep the newest seven
  pgreconcile_backup:
    db_host: db.example.internal
    db_name: pettycash
    db_user: pettycash_owner
    db_password: "{{ vault_reconcile_db_password }}"
    out_dir: /var/backups/pgreconcile
    test_restore: true
    keep: 7
  no_log: true
  register: backup

- name: Parallel dump of a large database
  pgreconcile_backup:
    db_name: pettycash
    out_dir: /var/backups/pgreconcile
    format: directory
    jobs: 4
"""

RETURN = r"""
path:
  description: The backup file (custom format) or directory (directory format).
  returned: success, not in check mode
  type: str
  sample: /var/backups/pgreconcile/pettycash-20250101T010203123456Z.dump
manifest:
  description: The manifest JSON written beside the backup.
  returned: success, not in check mode
  type: str
  sample: /var/backups/pgreconcile/pettycash-20250101T010203123456Z.manifest.json
sha256:
  description: sha256 of the dump file, or of the sorted per-file list for a directory.
  returned: success, not in check mode
  type: str
verified:
  description: True once C(pg_restore --list) read the backup (and the test restore matched, if asked).
  returned: success, not in check mode
  type: bool
  sample: true
database:
  description: Name of the database dumped (or that would be dumped).
  returned: always
  type: str
size_bytes:
  description: Size of the backup on disk.
  returned: success, not in check mode
  type: int
row_counts:
  description: Exact row count of every user table, as dumped.
  returned: success, not in check mode
  type: dict
  sample: {"public.treasury_payment": 10000}
schema_fingerprint:
  description: Fingerprint of the dumped schema, compared after a restore.
  returned: success, not in check mode
  type: str
server_version:
  description: Version of the PostgreSQL server.
  returned: always
  type: str
pg_dump:
  description: The C(pg_dump) used (or that would be used), its version and where it was found.
  returned: always
  type: dict
  sample: {"name": "pg_dump", "path": "/usr/lib/postgresql/16/bin/pg_dump", "version": "16.4", "source": "PATH"}
test_restore:
  description: Outcome of the test restore, or null when not asked for.
  returned: success, not in check mode
  type: dict
removed:
  description: Older backups removed by the retention rule O(keep).
  returned: success, not in check mode
  type: list
  elements: str
tables:
  description: Number of user tables that would be dumped.
  returned: check mode
  type: int
database_size_bytes:
  description: Size of the database on the server.
  returned: check mode
  type: int
free_bytes:
  description: Free space in O(out_dir) (or its nearest existing parent).
  returned: check mode
  type: int
seconds:
  description: Time the module took.
  returned: success
  type: float
exit_code:
  description: Exit code the CLI would give for the failure (2 usage, 4 refused, 1 otherwise).
  returned: failure
  type: int
error:
  description: Type of the engine error, for example C(BackupUnverified) or C(ToolchainError).
  returned: failure
  type: str
hint:
  description: What to do next.
  returned: failure
  type: str
"""

from pathlib import Path

from ansible.module_utils.pgreconcile_common import run_module

OPTIONS = {
    "out_dir": {"type": "path", "required": True},
    "format": {"type": "str", "choices": ["custom", "directory"], "default": "custom"},
    "jobs": {"type": "int", "default": 1},
    "test_restore": {"type": "bool", "default": False},
    "keep": {"type": "int"},
}


def backup(run) -> None:
    from pgreconcile.pg.backup import FORMATS, create_backup, describe_backup

    params = run.params
    out_dir = Path(params["out_dir"]).absolute()
    if run.check_mode:
        intent = describe_backup(run.live, out_dir, fmt=params["format"],
                                 pg_bin_dir=params["pg_bin_dir"]).to_dict()
        run.result.update(intent, changed=True)
        suffix = FORMATS[params["format"]][1]
        run.show_diff("", f"would write {out_dir}/{intent['database']}-<UTC timestamp>{suffix} "
                          f"and its .manifest.json\n"
                          f"database: {intent['database']}, {intent['tables']} tables, "
                          f"{intent['database_size_bytes']} bytes, "
                          f"PostgreSQL {intent['server_version']}\n"
                          f"pg_dump: {intent['pg_dump']['path']} "
                          f"({intent['pg_dump']['version']})\n",
                      "backup (none)", "backup")
        return

    made = create_backup(run.live, out_dir, fmt=params["format"], jobs=params["jobs"],
                         test_restore=params["test_restore"], keep=params["keep"],
                         pg_bin_dir=params["pg_bin_dir"]).to_dict()
    run.result.update(made, changed=True)
    run.show_diff("", f"wrote {made['path']} ({made['size_bytes']} bytes, "
                      f"sha256 {made['sha256']})\n"
                      f"manifest: {made['manifest']}\n"
                      f"database: {made['database']}, {len(made['row_counts'])} tables\n",
                  "backup (none)", "backup")


def main() -> None:
    run_module(backup, OPTIONS, supports_check_mode=True)


if __name__ == "__main__":
    main()
