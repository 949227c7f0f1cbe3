from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="vehicle", name="status",
            field=models.CharField(choices=[("active", "Active"), ("service", "In service"),
                                            ("retired", "Retired")],
                                   default="active", max_length=12)),
    ]
