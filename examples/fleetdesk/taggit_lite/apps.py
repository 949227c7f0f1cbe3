from django.apps import AppConfig


class TaggitLiteConfig(AppConfig):
    name = "taggit_lite"
    verbose_name = "Tags (vendored)"
    default_auto_field = "django.db.models.AutoField"
