import uuid

from django.db import models
from django.utils import timezone


class Payment(models.Model):
    """A petty-cash payment.

    Note for the seed case: `payment_id` (UUID) became the primary key by editing
    0001_initial *after* it had been applied; databases migrated before that edit
    still have the old integer `id` primary key (see ../drift/).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        REJECTED = "rejected", "Rejected"

    payment_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=32, db_index=True)
    payee = models.CharField(max_length=120)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    memo = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.reference} {self.payee} {self.amount} {self.currency}"


class Alert(models.Model):
    """Phase-6 dashboard: something about a payment that needs a person's attention."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="alerts")
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class PaymentTracking(models.Model):
    """Phase-6 dashboard: the stages a payment went through."""

    class Stage(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        DISBURSED = "disbursed", "Disbursed"
        RECONCILED = "reconciled", "Reconciled"

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="tracking")
    stage = models.CharField(max_length=32, choices=Stage.choices)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.payment_id} {self.stage}"


class DashboardSnapshot(models.Model):
    """Phase-6 dashboard: one row of daily totals (no foreign keys)."""

    snapshot_date = models.DateField(unique=True)
    payment_count = models.PositiveIntegerField(default=0)
    pending_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.snapshot_date}: {self.payment_count} payments, {self.total_amount}"
