import uuid
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Sum
from django.test import TestCase

from .models import Alert, DashboardSnapshot, Payment, PaymentTracking


def make_payment(**overrides) -> Payment:
    fields = {"reference": "PC-00000001", "payee": "Acme Office Supplies",
              "amount": Decimal("42.50")}
    fields.update(overrides)
    return Payment.objects.create(**fields)


class PaymentTests(TestCase):
    def test_payment_has_uuid_primary_key_and_defaults(self):
        payment = make_payment()
        self.assertIsInstance(payment.pk, uuid.UUID)
        self.assertEqual(payment.pk, payment.payment_id)
        self.assertEqual(payment.status, Payment.Status.PENDING)
        self.assertEqual(payment.currency, "USD")
        self.assertIsNotNone(payment.created_at.tzinfo)
        fetched = Payment.objects.get(payment_id=payment.payment_id)
        self.assertEqual(fetched.amount, Decimal("42.50"))

    def test_primary_key_column_in_database_is_uuid(self):
        with connection.cursor() as cur:
            cur.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
                " FROM pg_index i JOIN pg_attribute a"
                "   ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                " WHERE i.indrelid = 'treasury_payment'::regclass AND i.indisprimary")
            self.assertEqual(cur.fetchall(), [("payment_id", "uuid")])

    def test_status_workflow_and_totals(self):
        make_payment(reference="PC-1", amount=Decimal("10.00"), status=Payment.Status.PAID)
        make_payment(reference="PC-2", amount=Decimal("15.25"), status=Payment.Status.PAID)
        pending = make_payment(reference="PC-3", amount=Decimal("99.99"))
        pending.status = Payment.Status.APPROVED
        pending.save(update_fields=["status", "updated_at"])
        totals = dict(Payment.objects.values_list("status").annotate(Sum("amount")))
        self.assertEqual(totals, {"paid": Decimal("25.25"), "approved": Decimal("99.99")})


class DashboardModelTests(TestCase):
    def setUp(self):
        self.payment = make_payment(reference="PC-42", payee="Coffee Corner",
                                    amount=Decimal("18.40"))

    def test_alert_belongs_to_payment(self):
        alert = Alert.objects.create(payment=self.payment, level=Alert.Level.WARNING,
                                     message="Receipt missing")
        self.assertFalse(alert.acknowledged)
        self.assertEqual(list(self.payment.alerts.all()), [alert])
        alert.acknowledged = True
        alert.save()
        self.assertEqual(self.payment.alerts.filter(acknowledged=False).count(), 0)

    def test_tracking_stages_in_order(self):
        for stage in (PaymentTracking.Stage.SUBMITTED, PaymentTracking.Stage.APPROVED,
                      PaymentTracking.Stage.DISBURSED):
            PaymentTracking.objects.create(payment=self.payment, stage=stage)
        stages = list(self.payment.tracking.order_by("recorded_at", "id")
                      .values_list("stage", flat=True))
        self.assertEqual(stages, ["submitted", "approved", "disbursed"])

    def test_deleting_payment_cascades(self):
        Alert.objects.create(payment=self.payment, message="Over budget")
        PaymentTracking.objects.create(payment=self.payment, stage="submitted")
        self.payment.delete()
        self.assertEqual(Alert.objects.count(), 0)
        self.assertEqual(PaymentTracking.objects.count(), 0)

    def test_alert_requires_existing_payment(self):
        with self.assertRaises(IntegrityError), transaction.atomic():
            Alert.objects.create(payment_id=uuid.uuid4(), message="dangling")
            # the FK is DEFERRABLE INITIALLY DEFERRED: force the check now
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def test_snapshot_one_per_day(self):
        counts = Payment.objects.aggregate(n=Count("pk"), total=Sum("amount"))
        DashboardSnapshot.objects.create(snapshot_date=date(2025, 3, 14),
                                         payment_count=counts["n"],
                                         total_amount=counts["total"])
        with self.assertRaises(IntegrityError), transaction.atomic():
            DashboardSnapshot.objects.create(snapshot_date=date(2025, 3, 14))
