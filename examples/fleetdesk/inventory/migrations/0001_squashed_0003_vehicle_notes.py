"""`squashmigrations inventory 0003`, kept beside the migrations it replaces: databases that
applied 0001-0003 keep them recorded, new databases apply this one."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("inventory", "0001_initial"), ("inventory", "0002_vehicle_status"),
                ("inventory", "0003_vehicle_notes")]
    initial = True
    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="Warehouse",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=12, unique=True)),
                ("name", models.CharField(max_length=80)),
                ("city", models.CharField(blank=True, max_length=80)),
            ],
        ),
        migrations.CreateModel(
            name="Vehicle",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("plate", models.CharField(max_length=16, unique=True)),
                ("capacity_kg", models.IntegerField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("warehouse", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="vehicles",
                    to="inventory.warehouse")),
                ("status", models.CharField(
                    choices=[("active", "Active"), ("service", "In service"),
                             ("retired", "Retired")], default="active", max_length=12)),
                ("notes", models.TextField(blank=True)),
            ],
            options={
                "constraints": [models.CheckConstraint(
                    condition=models.Q(capacity_kg__gt=0),
                    name="inventory_vehicle_capacity_positive")],
                "indexes": [models.Index(fields=["status", "plate"],
                                         name="inventory_vehicle_status_idx")],
            },
        ),
    ]
