"""The per-row ORM loop a developer would write in a RunPython data migration, timed.

Runs in the example project's interpreter (DATABASE_URL and DJANGO_SETTINGS_MODULE set by
the caller): `python bench/orm_loop.py FIRST_ID COUNT`. Prints one JSON line.
"""
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "pettycash"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import django  # noqa: E402

django.setup()

from django.db import models  # noqa: E402

from pgreconcile.plan.backfill import STABLE_UUID_NAMESPACE  # noqa: E402


class OldPayment(models.Model):
    """The live (drifted) table as the old code saw it."""

    id = models.AutoField(primary_key=True)
    payment_id = models.UUIDField(null=True)

    class Meta:
        app_label = "treasury"
        db_table = "treasury_payment"
        managed = False


def main() -> None:
    first, count = int(sys.argv[1]), int(sys.argv[2])
    ids = list(OldPayment.objects.filter(id__gte=first).order_by("id")
               .values_list("id", flat=True)[:count])
    started = time.perf_counter()
    for key in ids:  # autocommit: each update is its own transaction, as in a naive loop
        OldPayment.objects.filter(pk=key).update(
            payment_id=uuid.uuid3(STABLE_UUID_NAMESPACE, f"treasury_payment:{key}"))
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(ids), "seconds": round(seconds, 3), "last_id": ids[-1]}))


if __name__ == "__main__":
    main()
