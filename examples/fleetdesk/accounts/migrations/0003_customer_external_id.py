import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_customer_is_active")]

    operations = [
        migrations.AddField(model_name="customer", name="external_id",
                            field=models.UUIDField(default=uuid.uuid4, editable=False)),
    ]
