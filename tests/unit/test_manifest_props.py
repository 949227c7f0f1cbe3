"""The backup manifest loader under hostile input: every malformed manifest is one
`ManifestInvalid` (a ReconcileError, exit 1), never a traceback, and a manifest it accepts
names only a plain pgreconcile backup name that stays inside the backup directory.
Pure: files in tmp directories, no database."""
from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgreconcile.errors import ReconcileError
from pgreconcile.pg.backup import (
    BACKUP_NAME,
    ManifestInvalid,
    backup_path,
    is_backup_name,
    manifest_name,
    parse_manifest,
    read_manifest,
)

NAME = "shop-20260101T000000000000Z.dump"


def good_manifest(**changes) -> dict:
    data = {"backup": NAME, "format": "custom", "database": "shop", "server": "local:5432",
            "server_version": "18.1", "pg_dump": {"path": "/usr/bin/pg_dump"},
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z",
            "size_bytes": 10, "database_size_bytes": 100, "sha256": "a" * 64,
            "files": {NAME: "a" * 64}, "row_counts": {"public.t": 3},
            "schema_fingerprint": "f" * 16, "toc_entries": 4, "verified": True,
            "test_restore": None, "tool_version": "0.1", "server_id": "system_identifier:1"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


HOSTILE_NAMES = ["/", "", ".", "..", "../x", "/etc", "/tmp/" + NAME, "../" + NAME,
                 NAME + "/..", "a/" + NAME, "..\\" + NAME, NAME + "\n", "\x00" + NAME,
                 "shop-20260101T000000000000Z.sql", "shop.dump", "~/" + NAME]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)


def test_good_manifest_is_accepted():
    manifest = parse_manifest(good_manifest())
    assert manifest.backup == NAME and manifest.server_id == "system_identifier:1"
    # A manifest written before server_id existed still loads (retention never matches it).
    assert parse_manifest(good_manifest(server_id=...)).server_id == ""


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_backup_names_are_refused(name, tmp_path):
    with pytest.raises(ManifestInvalid):
        parse_manifest(good_manifest(backup=name))
    with pytest.raises(ManifestInvalid):
        backup_path(tmp_path, name)


def test_symlink_with_a_backup_name_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / NAME).symlink_to(outside)
    with pytest.raises(ManifestInvalid, match="symbolic link"):
        backup_path(tmp_path / "backups", NAME)


@pytest.mark.parametrize("key", sorted(good_manifest()))
def test_every_key_with_a_wrong_type_or_missing_is_one_clear_error(key):
    optional = {"test_restore", "tool_version", "server_id"}
    for bad in ([], 1.5, "x" if key != "backup" else 7, {"k": object.__name__}, True):
        value = good_manifest()[key]
        if type(bad) is type(value) or (value is None and isinstance(bad, dict)):
            continue
        with pytest.raises(ManifestInvalid):
            parse_manifest(good_manifest(**{key: bad}))
    if key not in optional:
        with pytest.raises(ManifestInvalid, match=key):
            parse_manifest(good_manifest(**{key: ...}))


@settings(max_examples=120, deadline=None)
@given(json_values)
def test_any_json_value_is_a_manifest_or_one_clear_error(value):
    try:
        manifest = parse_manifest(value)
    except ManifestInvalid as exc:
        assert isinstance(exc, ReconcileError) and exc.exit_code == 1 and str(exc)
        return
    assert is_backup_name(manifest.backup)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(good_manifest())), json_values)
def test_one_field_replaced_by_anything(key, value):
    try:
        manifest = parse_manifest(good_manifest(**{key: value}))
    except ManifestInvalid:
        return
    assert is_backup_name(manifest.backup) and "/" not in manifest.backup
    assert isinstance(manifest.row_counts, dict) and isinstance(manifest.verified, bool)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=string.printable + "/.\\\x00é", max_size=80))
def test_backup_names_stay_inside_the_directory(tmp_path, name):
    directory = tmp_path / "backups"
    directory.mkdir(exist_ok=True)
    try:
        path = backup_path(directory, name)
    except ManifestInvalid:
        assert not BACKUP_NAME.fullmatch(name) or name in (".", "..")
        return
    assert path.parent == directory and path.name == name
    assert path.resolve().parent == directory.resolve()


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_manifest_file_reads_or_is_one_clear_error(tmp_path, content):
    path = tmp_path / manifest_name(NAME)
    path.write_bytes(content)
    try:
        manifest = read_manifest(path)
    except ManifestInvalid as exc:
        assert path.name in str(exc)
        return
    assert manifest.backup == NAME


def test_manifest_naming_another_backup_is_refused(tmp_path):
    path = tmp_path / manifest_name("other-20260101T000000000000Z.dump")
    path.write_text(json.dumps(good_manifest()))
    with pytest.raises(ManifestInvalid, match="not its own"):
        read_manifest(path)


def test_deeply_nested_json_is_a_clear_error(tmp_path):
    path = tmp_path / manifest_name(NAME)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ManifestInvalid):
        read_manifest(path)


def test_manifest_that_is_a_symlink_or_directory_is_refused(tmp_path):
    target = tmp_path / "real.json"
    target.write_text(json.dumps(good_manifest()))
    (tmp_path / manifest_name(NAME)).symlink_to(target)
    with pytest.raises(ManifestInvalid, match="regular file"):
        read_manifest(tmp_path / manifest_name(NAME))
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / manifest_name(NAME)).mkdir()
    with pytest.raises(ManifestInvalid):
        read_manifest(folder / manifest_name(NAME))


def test_names_pgreconcile_makes_match_its_pattern():
    from pgreconcile.pg.backup import _safe_name, _stamp
    for database in ("shop", "Ünïcode db", "x" * 63, "..", "a/b", "semi;colon"):
        assert is_backup_name(f"{_safe_name(database)[:120]}-{_stamp()}.dump")
        assert Path(f"{_safe_name(database)}-{_stamp()}.dir").name != ".."
