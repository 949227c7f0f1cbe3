import uuid

from django.db import models
from django.utils import timezone


class Customer(models.Model):
    name = models.CharField(max_length=120)
    email = models.EmailField(unique=True)
    joined_at = models.DateTimeField(default=timezone.now)
    # Added later (0002, 0003): a constant default and a callable one, both kept in Python.
    is_active = models.BooleanField(default=True)
    external_id = models.UUIDField(default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return self.name
