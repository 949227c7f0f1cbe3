"""Django settings for pettycash_system (the pgreconcile seed-case example).

The database comes from the environment, never from this file:

* ``DATABASE_URL`` -- a libpq connection string, URI (``postgresql://user:pw@host:5432/db``,
  ``postgresql://postgres:@/postgres?host=/tmp/sockdir`` for a unix socket) or
  key=value (``host=/tmp/sockdir dbname=pettycash user=postgres``); parsed with
  psycopg's own ``conninfo_to_dict`` so every form libpq accepts works;
* otherwise the libpq variables ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``,
  ``PGPASSWORD`` (anything left empty is filled in by libpq itself: PG* variables,
  ``~/.pgpass``, the default socket).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-pettycash-example-not-for-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "treasury",
]

MIDDLEWARE: list[str] = []

ROOT_URLCONF = "pettycash_system.urls"
WSGI_APPLICATION = "pettycash_system.wsgi.application"

TEMPLATES: list[dict] = []

# libpq keys that map onto Django's own DATABASES keys; every other key
# (sslmode, connect_timeout, options, ...) goes to OPTIONS and on to psycopg.
_DJANGO_KEYS = {"dbname": "NAME", "user": "USER", "password": "PASSWORD",
                "host": "HOST", "port": "PORT"}
_PG_ENV = {"NAME": "PGDATABASE", "USER": "PGUSER", "PASSWORD": "PGPASSWORD",
           "HOST": "PGHOST", "PORT": "PGPORT"}
DEFAULT_DB_NAME = "pettycash"


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
    # Django refuses an empty NAME; libpq would default it to the user name.
    config["NAME"] = config["NAME"] or env.get("PGDATABASE") or DEFAULT_DB_NAME
    return config


DATABASES = {"default": database_config("DATABASE_URL")}

AUTH_PASSWORD_VALIDATORS: list[dict] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
