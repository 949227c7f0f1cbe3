"""WSGI config for pettycash_system."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pettycash_system.settings")

application = get_wsgi_application()
