"""Django settings for fleetdesk_site: pgreconcile's second example project.

Several apps (``accounts``, ``inventory``, ``billing``) and a vendored third-party-style app
(``taggit_lite``, with its own migrations), whose migrations hold what real projects' do:
RunSQL (a view, a trigger function and its trigger), a data migration, a squashed
migration, defaults kept in Python (constant and callable) and a database default.

The database comes from the environment, never from this file: ``DATABASE_URL`` (a libpq
URI or key=value string, parsed with psycopg's ``conninfo_to_dict``), else the libpq
variables ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY",
                            "django-insecure-fleetdesk-example-not-for-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "taggit_lite",
    "accounts",
    "inventory",
    "billing",
]

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "fleetdesk_site.urls"
TEMPLATES: list[dict] = []

_DJANGO_KEYS = {"dbname": "NAME", "user": "USER", "password": "PASSWORD",
                "host": "HOST", "port": "PORT"}
_PG_ENV = {"NAME": "PGDATABASE", "USER": "PGUSER", "PASSWORD": "PGPASSWORD",
           "HOST": "PGHOST", "PORT": "PGPORT"}
DEFAULT_DB_NAME = "fleetdesk"


def database_config(*env_vars: str, env: Mapping[str, str] | None = None) -> dict:
    """A Django DATABASES entry from the first non-empty variable in `env_vars`
    (libpq URI or key=value string), else from the PG* variables."""
    env = os.environ if env is None else env
    config: dict = {"ENGINE": "django.db.backends.postgresql", "NAME": "", "USER": "",
                    "PASSWORD": "", "HOST": "", "PORT": "", "OPTIONS": {}}
    url = next((env[v] for v in (env_vars or ("DATABASE_URL",)) if env.get(v)), "")
    if url:
        from psycopg.conninfo import conninfo_to_dict

        for key, value in conninfo_to_dict(url).items():
            if value is None:
                continue
            if key in _DJANGO_KEYS:
                config[_DJANGO_KEYS[key]] = str(value)
            else:
                config["OPTIONS"][key] = str(value)
    else:
        for django_key, var in _PG_ENV.items():
            config[django_key] = env.get(var, "")
    config["NAME"] = config["NAME"] or env.get("PGDATABASE") or DEFAULT_DB_NAME
    return config


DATABASES = {"default": database_config("DATABASE_URL")}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
