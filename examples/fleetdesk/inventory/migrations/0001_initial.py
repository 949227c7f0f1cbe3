import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
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
            ],
            options={"constraints": [models.CheckConstraint(
                condition=models.Q(capacity_kg__gt=0),
                name="inventory_vehicle_capacity_positive")]},
        ),
    ]
