import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("taggit_lite", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="taggeditem", name="created",
            field=models.DateTimeField(auto_now_add=True,
                                       default=django.utils.timezone.now),
            preserve_default=False),
    ]
