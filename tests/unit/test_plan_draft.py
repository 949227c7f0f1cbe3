"""Django migration drafts, one per app that owns a drifted table."""
from __future__ import annotations

from pgreconcile.plan.draft import django_migration_drafts, next_name, table_apps
from pgreconcile.plan.steps import Plan, Step, StepKind

TABLES_BY_MIGRATION = {
    "shop.0001_initial": ["shop_order", "shop_item"],
    "shop.0002_item_sku": ["shop_item"],
    "crm.0001_initial": ["crm_contact"],
    # A migration of another app touching shop_order (e.g. an AddField through a swap):
    "crm.0003_order_contact": ["shop_order", "crm_contact"],
    "legacy.0001_initial": ["customers"],
}
APPLIED = ["crm.0003_order_contact", "legacy.0001_initial", "shop.0002_item_sku",
           "contenttypes.0002_remove_content_type_name"]


def step(n: int, table: str | None, sql: str) -> Step:
    return Step(id=f"{n:02d}-s{n}", title=f"step {n}", reason="drift", kind=StepKind.DDL,
                table=table, sql=(sql,), reverse=(f"-- undo {n}",))


def plan(*steps: Step) -> Plan:
    return Plan("abc123", "app", "keep", "stable", "fp", tuple(steps))


def test_each_table_belongs_to_the_app_whose_label_prefixes_it():
    owners = table_apps(TABLES_BY_MIGRATION)
    assert owners == {"shop_order": "shop", "shop_item": "shop", "crm_contact": "crm",
                      "customers": "legacy"}


def test_next_name_follows_the_applied_migration():
    assert next_name("0002_item_sku") == "0003_pgreconcile_reconcile"
    assert next_name("0099_x") == "0100_pgreconcile_reconcile"
    assert next_name("initial") == "0001_pgreconcile_reconcile"


def test_one_draft_per_app_with_only_its_steps():
    p = plan(step(1, "public.shop_order", 'ALTER TABLE "public"."shop_order" ADD x'),
             step(2, "public.crm_contact", 'ALTER TABLE "public"."crm_contact" ADD y'),
             step(3, "public.shop_item", 'ALTER TABLE "public"."shop_item" ADD z'))
    drafts = {d.app: d for d in django_migration_drafts(p, TABLES_BY_MIGRATION, APPLIED)}
    assert set(drafts) == {"crm", "shop"}
    assert drafts["shop"].steps == ("01-s1", "03-s3")
    assert drafts["crm"].steps == ("02-s2",)
    assert (drafts["shop"].after, drafts["shop"].filename) == \
        ("0002_item_sku", "0003_pgreconcile_reconcile.py")
    assert drafts["crm"].filename == "0004_pgreconcile_reconcile.py"
    for d in drafts.values():
        compile(d.text, d.filename, "exec")
        assert f'dependencies = [("{d.app}", "{d.after}")]' in d.text
    assert "shop_order" in drafts["shop"].text and "crm_contact" not in drafts["shop"].text
    assert "shop_" not in drafts["crm"].text


def test_steps_on_no_app_table_go_to_the_first_app_and_it_says_so():
    p = plan(step(1, None, 'CREATE EXTENSION IF NOT EXISTS "pgcrypto"'),
             step(2, "public.shop_order", 'ALTER TABLE "public"."shop_order" ADD x'),
             step(3, "public.made_by_hand", 'ALTER TABLE "public"."made_by_hand" ADD q'),
             step(4, "public.customers", 'ALTER TABLE "public"."customers" ADD w'))
    drafts = {d.app: d for d in django_migration_drafts(p, TABLES_BY_MIGRATION, APPLIED)}
    assert set(drafts) == {"legacy", "shop"}
    # "legacy" is first by name among the apps with drift: it gets the homeless steps, in
    # plan order, and a note naming them.
    assert drafts["legacy"].steps == ("01-s1", "03-s3", "04-s4")
    assert "01-s1, 03-s3" in drafts["legacy"].text and "first app" in drafts["legacy"].text
    assert drafts["shop"].steps == ("02-s2",) and "first app" not in drafts["shop"].text
    compile(drafts["legacy"].text, "draft.py", "exec")


def test_no_steps_no_drafts():
    assert django_migration_drafts(plan(), TABLES_BY_MIGRATION, APPLIED) == []


def test_a_step_on_no_table_goes_to_the_app_its_object_is_named_after():
    from pgreconcile.plan.steps import ObjectRef

    view = Step(id="01-view", title="CREATE VIEW", reason="drift", kind=StepKind.DDL,
                table=None, target=ObjectRef("view", "public", None, "shop_item_totals"),
                sql=("CREATE VIEW x AS SELECT 1",))
    ext = Step(id="02-ext", title="CREATE EXTENSION", reason="drift", kind=StepKind.DDL,
               table=None, target=ObjectRef("extension", "", None, "citext"),
               sql=("CREATE EXTENSION citext",))
    drafts = {d.app: d for d in django_migration_drafts(
        plan(view, ext, step(3, "public.crm_contact", "ALTER TABLE crm_contact ...")),
        TABLES_BY_MIGRATION, APPLIED)}
    assert drafts["shop"].steps == ("01-view",)
    # Nothing names the extension after an app: it goes to the first app by name.
    assert drafts["crm"].steps == ("02-ext", "03-s3")
    text = " ".join(drafts["crm"].text.split())
    assert "(02-ext)" in text and "first app with drift by name" in text
