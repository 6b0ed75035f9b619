"""The copy job on the local filesystem (the same pyarrow code path serves gs:// and s3://)."""

from __future__ import annotations

import json
import os

import pytest

from taxi_spark.jobs import copy_files as copy_job


def _run(capsys, *argv: str) -> dict:
    assert copy_job.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_copies_one_file_streaming_then_skips(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(copy_job, "CHUNK_BYTES", 1000)  # several chunks for a 10 kB file
    src = tmp_path / "landing" / "trip data" / "yellow_tripdata_2024-01.parquet"
    src.parent.mkdir(parents=True)
    payload = os.urandom(10_000)
    src.write_bytes(payload)
    dest = tmp_path / "staging" / "yellow" / "yellow_tripdata_2024-01.parquet"

    first = _run(capsys, "--uri", src.as_uri(), "--dest", f"file://{tmp_path}/staging/yellow/")
    assert (first["copied"], first["skipped"], first["bytes"]) == (1, 0, 10_000)
    assert first["files"][0]["dest"] == f"file://{dest}"
    assert dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no temp file left

    mtime = dest.stat().st_mtime_ns
    second = _run(capsys, "--uri", src.as_uri(), "--dest", f"file://{dest}")
    assert (second["copied"], second["skipped"]) == (0, 1)
    assert dest.stat().st_mtime_ns == mtime


def test_replaces_a_destination_of_another_size(tmp_path, capsys):
    src = tmp_path / "a.parquet"
    src.write_bytes(b"x" * 50)
    dest = tmp_path / "out" / "a.parquet"
    dest.parent.mkdir()
    dest.write_bytes(b"partial")
    out = _run(capsys, "--uri", f"file://{src}", "--dest", f"file://{dest}")
    assert out["copied"] == 1
    assert dest.read_bytes() == b"x" * 50


def test_folder_copy_keeps_relative_paths_and_filters(tmp_path, capsys):
    landing = tmp_path / "landing"
    for rel in (
        "yellow_tripdata_2024-01.parquet",
        "sub/yellow_tripdata_2024-02.parquet",
        "green_tripdata_2024-01.parquet",
    ):
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_bytes(rel.encode())
    out = _run(
        capsys,
        "--uri",
        f"file://{landing}",
        "--dest",
        f"file://{tmp_path}/st/",
        "--glob",
        "yellow_tripdata_*.parquet",
    )
    assert out["copied"] == 2
    assert (tmp_path / "st" / "sub" / "yellow_tripdata_2024-02.parquet").exists()
    assert not (tmp_path / "st" / "green_tripdata_2024-01.parquet").exists()
    again = _run(
        capsys,
        "--uri",
        f"file://{landing}",
        "--dest",
        f"file://{tmp_path}/st/",
        "--glob",
        "yellow_tripdata_*.parquet",
    )
    assert (again["copied"], again["skipped"]) == (0, 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--uri", "file:///nope/x.parquet", "--dest", "file:///tmp/x"], "does not exist"),
        (["--uri", "ftp://h/x", "--dest", "file:///tmp/x"], "unsupported scheme"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    assert copy_job.main(argv) == 2
    assert message in capsys.readouterr().err


def test_folder_source_needs_a_folder_destination(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.parquet").write_bytes(b"a")
    code = copy_job.main(["--uri", f"file://{tmp_path}/in", "--dest", f"file://{tmp_path}/out"])
    assert code == 2
    assert "must be a folder URI ending in '/'" in capsys.readouterr().err
