"""taxi_common.uris: parsing against each caller's schemes, atomic local writes."""

from __future__ import annotations

import gzip
import os
import re

import pytest

from taxi_common import uris


class CallerError(Exception):
    pass


def parse(uri: str, schemes: tuple[str, ...] = ("file", "gs", "s3"), **kw):
    return uris.parse(uri, arg="--uri", schemes=schemes, error=CallerError, **kw)


def test_parses_each_scheme_into_bucket_key_and_pyarrow_path():
    loc = parse("gs://acme/env/dev/a%20b.parquet")
    assert (loc.scheme, loc.bucket, loc.key, loc.fs_path) == (
        "gs",
        "acme",
        "env/dev/a b.parquet",
        "acme/env/dev/a b.parquet",
    )
    assert parse("s3://landing").fs_path == "landing"
    local = parse("file:///tmp/x/../docs/")
    assert (local.bucket, local.key, local.fs_path) == ("", "/tmp/docs", "/tmp/docs")
    assert parse("/tmp/docs", bare_paths=True).uri == "file:///tmp/docs"


@pytest.mark.parametrize(
    ("uri", "schemes", "message"),
    [
        ("  ", ("file", "gs"), "--uri is empty; use file:///absolute/path or gs://bucket/prefix."),
        ("s3://b/k", ("file", "gs"), "uses the unsupported scheme 's3'"),
        ("/tmp/x", ("file",), "unsupported scheme '(none)'"),
        ("file://host/tmp/x", ("file",), "three slashes"),
        ("file:relative", ("file",), "must be an absolute path"),
        ("gs:///key", ("gs",), "has no bucket; expected gs://bucket/key"),
    ],
)
def test_bad_uris_raise_the_callers_error_naming_the_argument(uri, schemes, message):
    with pytest.raises(CallerError, match=re.escape(message)):
        parse(uri, schemes)


def test_join_adds_path_segments():
    assert uris.join("gs://b/docs/", "/model/", "index.html") == "gs://b/docs/model/index.html"


def test_local_write_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    uri = uris.join((tmp_path / "docs").as_uri(), "dbt", "index.html")
    assert uris.write_bytes(uri, b"v1", error=CallerError) == uri
    assert uris.write_bytes(uri, b"v2", error=CallerError) == uri
    target = tmp_path / "docs" / "dbt" / "index.html"
    assert target.read_bytes() == b"v2"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(target.parent) == ["index.html"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "index.html"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        uris.write_bytes(target.as_uri(), "not bytes", error=CallerError)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.html"]


def test_refuses_folders_and_unsupported_targets(tmp_path):
    (tmp_path / "site").mkdir()
    with pytest.raises(CallerError, match="is a folder"):
        uris.write_bytes((tmp_path / "site").as_uri(), b"x", error=CallerError)
    with pytest.raises(CallerError, match="names a folder"):
        uris.write_bytes("gs://bucket/dir/", b"x", error=CallerError)
    with pytest.raises(CallerError, match="unsupported scheme 's3'"):
        uris.write_bytes("s3://bucket/x.html", b"x", error=CallerError)


def test_text_pages_get_a_gz_sibling_written_after_the_page(tmp_path):
    page = b"<p>Trips by zone.</p>" * 200
    uri = uris.join(tmp_path.as_uri(), "dbt", "index.html")
    uris.write_bytes(uri, page, error=CallerError, content_type="text/html; charset=utf-8")
    target = tmp_path / "dbt" / "index.html"
    sibling = tmp_path / "dbt" / "index.html.gz"
    assert target.read_bytes() == page
    assert gzip.decompress(sibling.read_bytes()) == page
    # The docs app trusts a sibling only if it is not older than its page.
    assert sibling.stat().st_mtime_ns >= target.stat().st_mtime_ns
    assert oct(sibling.stat().st_mode & 0o777) == "0o644"
    first = sibling.read_bytes()
    uris.write_bytes(uri, page, error=CallerError, content_type="text/html")
    assert sibling.read_bytes() == first, "the same page compresses to the same bytes"
    assert sorted(os.listdir(target.parent)) == ["index.html", "index.html.gz"]


def test_no_sibling_for_small_or_binary_files_or_when_turned_off(tmp_path):
    small = uris.join(tmp_path.as_uri(), "small.html")
    uris.write_bytes(small, b"<p>x</p>", error=CallerError, content_type="text/html")
    png = uris.join(tmp_path.as_uri(), "chart.png")
    uris.write_bytes(png, b"\x89PNG" * 1000, error=CallerError, content_type="image/png")
    off = uris.join(tmp_path.as_uri(), "off.html")
    uris.write_bytes(
        off, b"x" * 5000, error=CallerError, content_type="text/html", precompress=False
    )
    assert sorted(os.listdir(tmp_path)) == ["chart.png", "off.html", "small.html"]
    assert uris.should_precompress("application/json", 1024)
    assert not uris.should_precompress("application/json", 1023)
    assert not uris.should_precompress("application/octet-stream", 10_000)
