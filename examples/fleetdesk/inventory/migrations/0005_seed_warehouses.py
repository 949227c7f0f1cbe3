"""Data migration: the warehouses every installation starts with."""
from django.db import migrations

WAREHOUSES = [("HQ", "Head office depot", "Rotterdam"), ("NORTH", "North hub", "Groningen")]


def seed(apps, schema_editor):
    Warehouse = apps.get_model("inventory", "Warehouse")
    for code, name, city in WAREHOUSES:
        Warehouse.objects.get_or_create(code=code, defaults={"name": name, "city": city})


def unseed(apps, schema_editor):
    apps.get_model("inventory", "Warehouse").objects.filter(
        code__in=[w[0] for w in WAREHOUSES], vehicles__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("inventory", "0004_summary_view_and_touch_trigger")]

    operations = [migrations.RunPython(seed, unseed)]
