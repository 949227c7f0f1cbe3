from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        migrations.AddField(model_name="invoice", name="currency",
                            field=models.CharField(default="EUR", max_length=3)),
    ]
