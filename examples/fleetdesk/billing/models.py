from django.db import models
from django.db.models.functions import Now


class Invoice(models.Model):
    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE,
                                 related_name="invoices")
    number = models.CharField(max_length=32, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    paid = models.BooleanField(default=False)
    issued_on = models.DateField()
    # A database default (Django 5+): the schema itself has it.
    created_at = models.DateTimeField(db_default=Now())
    # Added later (0002): a constant default kept in Python.
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0),
                                              name="billing_invoice_amount_nonnegative")]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
