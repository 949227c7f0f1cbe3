"""Staging settings: ``python manage.py test --settings=staging_settings``.

Everything from the base settings; the database from ``STAGING_DATABASE_URL``,
else ``DATABASE_URL``, else the libpq PG* variables. ``manage.py test`` creates
and drops ``test_<NAME>`` on that server, so the role needs CREATEDB.
"""
from pettycash_system.settings import *
from pettycash_system.settings import database_config

DEBUG = False

DATABASES = {"default": database_config("STAGING_DATABASE_URL", "DATABASE_URL")}
