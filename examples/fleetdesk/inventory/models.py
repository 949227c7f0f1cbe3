from django.db import models


class Warehouse(models.Model):
    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=80)
    city = models.CharField(max_length=80, blank=True)

    def __str__(self) -> str:
        return self.code


class Vehicle(models.Model):
    STATUSES = [("active", "Active"), ("service", "In service"), ("retired", "Retired")]

    plate = models.CharField(max_length=16, unique=True)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="vehicles")
    capacity_kg = models.IntegerField()
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=12, choices=STATUSES, default="active")
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(capacity_kg__gt=0),
                                              name="inventory_vehicle_capacity_positive")]
        indexes = [models.Index(fields=["status", "plate"], name="inventory_vehicle_status_idx")]

    def __str__(self) -> str:
        return self.plate
