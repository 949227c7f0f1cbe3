import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("number", models.CharField(max_length=32, unique=True)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("paid", models.BooleanField(default=False)),
                ("issued_on", models.DateField()),
                ("created_at", models.DateTimeField(
                    db_default=django.db.models.functions.datetime.Now())),
                ("customer", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="invoices",
                    to="accounts.customer")),
            ],
            options={"constraints": [models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="billing_invoice_amount_nonnegative")]},
        ),
        migrations.CreateModel(
            name="InvoiceLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("description", models.CharField(max_length=200)),
                ("quantity", models.PositiveIntegerField(default=1)),
                ("unit_price", models.DecimalField(decimal_places=2, max_digits=10)),
                ("invoice", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="lines",
                    to="billing.invoice")),
            ],
        ),
    ]
