"""Collations: created when missing, refused when they differ; extensions: updated
(destructive, no reverse) or moved to their schema. No database."""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import collation, extension
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Collation, Extension, Schema

CTX = PlanContext(Schema(), Schema(), Diff())


def missing(c: Collation):
    return collation.plan(Change("missing", "collation", c.qualified_name, None,
                                 expected=c.to_dict()), CTX)


def test_missing_icu_collation_is_created_with_its_locale_and_determinism():
    (step,) = missing(Collation("public", "ci", "i", "und-u-ks-level2",
                                deterministic=False)).steps
    assert step.sql == ('CREATE COLLATION IF NOT EXISTS "public"."ci" (provider = icu, '
                        "locale = 'und-u-ks-level2', deterministic = false)",)
    assert "c.collname = 'ci'" in step.probe
    assert step.reverse == ('DROP COLLATION IF EXISTS "public"."ci"',)


def test_missing_libc_collation_uses_lc_collate_and_lc_ctype():
    (step,) = missing(Collation("public", "posix2", "c", None, "C", "C.UTF-8")).steps
    assert step.sql == ('CREATE COLLATION IF NOT EXISTS "public"."posix2" (provider = libc, '
                        "lc_collate = 'C', lc_ctype = 'C.UTF-8')",)


def test_collation_that_differs_is_refused_with_the_reason():
    live = Collation("public", "ci", "i", "und-u-ks-level2")
    exp = Collation("public", "ci", "i", "und-u-ks-level1")
    out = collation.plan(Change("different", "collation", "public.ci", None, live.to_dict(),
                                exp.to_dict(), attributes=("locale",)), CTX)
    assert out.steps == []
    assert "cannot be altered" in out.unsupported[0].why
    assert "und-u-ks-level1" in out.unsupported[0].why


def ext_change(live: Extension, exp: Extension, *attributes):
    return extension.plan(Change("different", "extension", exp.name, None, live.to_dict(),
                                 exp.to_dict(), attributes=attributes), CTX)


def test_extension_version_update_is_destructive_without_reverse():
    (step,) = ext_change(Extension("citext", "public", "1.4"),
                         Extension("citext", "public", "1.6"), "version").steps
    assert step.sql == ("ALTER EXTENSION \"citext\" UPDATE TO '1.6'",)
    assert step.destructive and step.reverse == ()
    assert "extversion = '1.6'" in step.probe and "no downgrade" in step.reason
    assert "pg_extension_update_paths(x.extname)" in step.precheck
    assert step.precheck.startswith("SELECT count(*), string_agg(")  # always one row


def test_extension_in_another_schema_is_moved_back_reversibly():
    (step,) = ext_change(Extension("citext", "public", "1.6"),
                         Extension("citext", "ext", "1.6"), "schema").steps
    assert step.sql == ('ALTER EXTENSION "citext" SET SCHEMA "ext"',)
    assert step.reverse == ('ALTER EXTENSION "citext" SET SCHEMA "public"',)
    assert not step.destructive and "n.nspname = 'ext'" in step.probe
