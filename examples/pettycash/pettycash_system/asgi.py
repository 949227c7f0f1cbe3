"""ASGI config for pettycash_system."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pettycash_system.settings")

application = get_asgi_application()
