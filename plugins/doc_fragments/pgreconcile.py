"""Connection options shared by every pgreconcile_* module.

Modules pull these in with ``extends_documentation_fragment: [pgreconcile]``;
the matching argument specs are CONNECTION_OPTIONS and REFERENCE_OPTIONS in
``module_utils/pgreconcile_common.py``.
"""


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  db_name:
    description:
      - Database to connect to.
      - Empty means libpq's default, E(PGDATABASE) or else the user name.
    type: str
    default: ''
  db_host:
    description:
      - Host name, IP address or Unix socket directory of the PostgreSQL server.
      - Empty means E(PGHOST) or libpq's default socket.
    type: str
    default: ''
  db_port:
    description:
      - TCP port, or the number in the Unix socket's file name.
      - Empty means E(PGPORT) or 5432.
    type: int
  db_user:
    description:
      - Role to connect as.
      - Empty means E(PGUSER) or the operating system user running the module.
    type: str
    default: ''
  db_password:
    description:
      - Password of O(db_user). Keep it in Ansible Vault or the environment, never in plain text.
      - It reaches C(pg_dump) and C(pg_restore) only through their environment (E(PGPASSWORD)),
        never their command line, and is never returned or written to a manifest.
      - Empty means E(PGPASSWORD), E(PGPASSFILE) or C(~/.pgpass) on the managed host.
    type: str
    default: ''
  pg_bin_dir:
    description:
      - Directory holding C(pg_dump) and C(pg_restore) to try first.
      - Without it the engine uses its embedded PostgreSQL toolchain, then E(PATH), and always
        refuses a C(pg_dump) older than the server.
    type: path
  run_id:
    description:
      - The run this task belongs to (the role sets it once per play and host). The stages that
        change the database (apply, migrate, verify, rollback) run under the run's lock, taken
        by M(pgreconcile_lock), so no other run interleaves with them; another run's lock makes
        them refuse. Other modules ignore it.
      - Without it each changing module takes the lock for itself alone.
    type: str
requirements:
  - The C(pgreconcile) Python package on the managed host, importable by the interpreter Ansible
    runs modules with. C(playbooks/toolkit.yml) installs it; on the controller it is the project's
    own virtualenv.
notes:
  - Connection values left empty fall back to libpq's own rules (E(PGHOST), E(PGPORT), E(PGDATABASE),
    E(PGUSER), E(PGPASSWORD), C(~/.pgpass)), so a managed host's environment may supply them.
"""

    # The Django project a module runs: its settings and interpreter (O(project_dir) is each
    # module's own, since what it is for differs):
    # ``extends_documentation_fragment: [pgreconcile, pgreconcile.django]``.
    DJANGO = r"""
options:
  settings:
    description:
      - The project's settings module. Default is the one C(manage.py) names.
    type: str
  python:
    description:
      - Interpreter of the project (its virtualenv). Default is the interpreter running the module.
    type: str
"""

    # The reference a module compares live with, and the scope of that comparison; the
    # project's settings and interpreter come from the django fragment:
    # ``extends_documentation_fragment: [pgreconcile, pgreconcile.django, pgreconcile.reference]``.
    REFERENCE = r"""
options:
  project_dir:
    description:
      - Directory holding the Django project's C(manage.py), on the managed host. Its migrations
        are the reference schema.
    type: path
  reference_dsn:
    description:
      - Another database that is the reference, instead of O(project_dir) (libpq URI or key=value
        string; keep passwords in C(~/.pgpass)).
      - Treated as a secret (C(no_log)), since a DSN can carry a password.
    type: str
  reference_sql:
    description:
      - A SQL file that is the reference, loaded into a scratch database, instead of O(project_dir).
    type: path
  scratch_dsn:
    description:
      - Server where scratch databases (reference schema, preflight or proof clone) are created and dropped,
        as a libpq URI or key=value string without a password. Default is the live server.
      - Treated as a secret (C(no_log)), since a DSN can carry a password.
    type: str
  schemas:
    description:
      - Only these schemas.
    type: list
    elements: str
  exclude_schemas:
    description:
      - Leave these schemas out.
    type: list
    elements: str
"""
