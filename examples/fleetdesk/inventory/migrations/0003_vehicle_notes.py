from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_vehicle_status")]

    operations = [
        migrations.AddField(model_name="vehicle", name="notes",
                            field=models.TextField(blank=True)),
        migrations.AddIndex(model_name="vehicle",
                            index=models.Index(fields=["status", "plate"],
                                               name="inventory_vehicle_status_idx")),
    ]
