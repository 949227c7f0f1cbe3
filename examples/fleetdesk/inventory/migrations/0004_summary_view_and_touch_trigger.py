"""Hand-written SQL the ORM cannot express: a reporting view, and a trigger that stamps
updated_at on every UPDATE (also for writers that bypass the ORM)."""
from django.db import migrations

VIEW = """
CREATE VIEW inventory_vehicle_summary AS
SELECT w.code AS warehouse, count(v.id) AS vehicles,
       coalesce(sum(v.capacity_kg), 0) AS capacity_kg
  FROM inventory_warehouse w
  LEFT JOIN inventory_vehicle v ON v.warehouse_id = w.id
 GROUP BY w.code
"""

FUNCTION = """
CREATE FUNCTION inventory_vehicle_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$
"""

TRIGGER = """
CREATE TRIGGER inventory_vehicle_touch BEFORE UPDATE ON inventory_vehicle
FOR EACH ROW EXECUTE FUNCTION inventory_vehicle_touch()
"""


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_vehicle_notes")]

    operations = [
        migrations.RunSQL(VIEW, reverse_sql="DROP VIEW inventory_vehicle_summary"),
        migrations.RunSQL(FUNCTION, reverse_sql="DROP FUNCTION inventory_vehicle_touch()"),
        migrations.RunSQL(TRIGGER,
                          reverse_sql="DROP TRIGGER inventory_vehicle_touch ON inventory_vehicle"),
    ]
