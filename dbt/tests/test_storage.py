"""The storage helper: file:// writes are atomic; bad URIs fail with a usable message."""

from __future__ import annotations

import os
import re

import pytest

from taxi_dbt import storage
from taxi_dbt.errors import StorageError


def test_file_uri_write_creates_folders_and_replaces_atomically(tmp_path):
    uri = storage.join(f"file://{tmp_path}/docs/", "dbt", "index.html")
    assert uri == f"file://{tmp_path}/docs/dbt/index.html"
    assert storage.put_bytes(uri, b"<html>v1</html>") == uri
    assert storage.put_bytes(uri, b"<html>v2</html>") == uri
    target = tmp_path / "docs" / "dbt" / "index.html"
    assert target.read_bytes() == b"<html>v2</html>"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(target.parent) == ["index.html"]  # no temporary file left behind


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "index.html"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        storage.put_bytes(f"file://{target}", "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.html"]


def test_a_folder_is_not_overwritten(tmp_path):
    (tmp_path / "dbt").mkdir()
    with pytest.raises(StorageError, match="is a folder"):
        storage.put_bytes(f"file://{tmp_path}/dbt", b"x")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "is empty"),
        ("s3://bucket/docs", "unsupported scheme 's3'"),
        ("/tmp/docs", "unsupported scheme '(none)'"),
        ("file://host/tmp/docs", "three slashes"),
        ("gs:///docs", "has no bucket"),
    ],
)
def test_bad_uris(uri, message):
    with pytest.raises(StorageError, match=re.escape(message)):
        storage.put_bytes(uri, b"x")


def test_gs_uris_parse_into_bucket_and_key():
    loc = storage.parse("gs://acme-docs/env/dev/dbt/index.html")
    assert (loc.scheme, loc.bucket, loc.key) == ("gs", "acme-docs", "env/dev/dbt/index.html")
    assert loc.uri == "gs://acme-docs/env/dev/dbt/index.html"
    with pytest.raises(StorageError, match="names a folder"):
        storage.put_bytes("gs://acme-docs/dbt/", b"x")
