"""The ingest download job (issue 22) on its real code paths: a loopback HTTP server plays the
TLC website (ok, not yet, 5xx then ok, truncated body, wrong content, republished, unchanged) and
moto's server mode on loopback plays S3 (versioned landing bucket, PutObject, multipart, an
interrupted multipart upload). Free loopback ports, picked at import."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_spark import testdata
from taxi_spark.jobs import download
from taxi_testing.emulators import free_port

PUBLISHER_PORT = free_port()
S3_PORT = free_port()
BASE = f"http://127.0.0.1:{PUBLISHER_PORT}/trip-data"
FAST = ["--backoff", "0.05", "--retries", "3", "--timeout", "5", "--min-bytes", "100"]


def parquet_bytes(year: int, month: int, rows: int = 300, seed: int = 42) -> bytes:
    table = testdata.generate_month(year, month, rows, seed=seed).table
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


class Publisher:
    """What the TLC website answers, per path: a list of behaviours consumed one per request
    (the last one repeats): ("ok", body) | ("status", code) | ("truncated", body)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple]] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def set(self, name: str, *behaviours: tuple) -> str:
        with self.lock:
            self.routes[f"/trip-data/{name}"] = list(behaviours)
        return f"{BASE}/{name}"

    def next(self, path: str) -> tuple:
        with self.lock:
            self.requests.append(path)
            queue = self.routes.get(path) or [("status", 404)]
            return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture(scope="module")
def publisher():
    pub = Publisher()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            kind, *rest = pub.next(self.path)
            if kind == "status":
                body = b"<html>Access Denied</html>"
                self.send_response(rest[0])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            body = rest[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
            self.send_header("Last-Modified", "Fri, 15 Mar 2024 10:00:00 GMT")
            self.end_headers()
            if kind == "truncated":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", PUBLISHER_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pub
    server.shutdown()
    server.server_close()


def run_job(tmp_path: Path, url: str, dest: str, *extra: str, capsys=None) -> tuple[int, dict]:
    """Run the job in-process; returns (exit code, JSON summary); its stderr is kept in ERR."""
    argv = [
        "--uri",
        url,
        "--dest",
        dest,
        "--dataset",
        "yellow",
        "--work-dir",
        str(tmp_path / "work"),
    ]
    code = download.main([*argv, *FAST, *extra])
    summary = {}
    if capsys is not None:
        captured = capsys.readouterr()
        ERR[:] = [captured.err]
        out = captured.out.strip()
        if code == 0 and out:
            summary = json.loads(out.splitlines()[-1])
    return code, summary


ERR: list[str] = [""]


def landing_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_no_temp(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert not work.exists() or not list(work.iterdir()), "temporary download left behind"


# --- the publisher cases, into a file:// landing folder ----------------------------------------
def test_ok_downloads_verifies_and_lands_atomically_with_metadata(publisher, tmp_path, capsys):
    body = parquet_bytes(2024, 3)
    url = publisher.set("yellow_tripdata_2024-03.parquet", ("ok", body))
    dest = tmp_path / "landing" / "trip data" / "yellow_tripdata_2024-03.parquet"
    code, summary = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == 0
    assert summary["action"] == "uploaded"
    assert summary["replaced"] is False
    assert summary["rows"] == 300
    assert summary["attempts"] == 1
    assert dest.read_bytes() == body
    assert summary["sha256"] == hashlib.sha256(body).hexdigest()
    meta = json.loads((dest.parent / f".{dest.name}.meta.json").read_text())
    assert meta == {
        "source-url": url,
        "source-etag": hashlib.md5(body).hexdigest(),
        "source-last-modified": "Fri, 15 Mar 2024 10:00:00 GMT",
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    # Only the file and its hidden sidecar: no temporary name left in the landing folder.
    assert landing_files(tmp_path / "landing") == [
        "trip data/.yellow_tripdata_2024-03.parquet.meta.json",
        "trip data/yellow_tripdata_2024-03.parquet",
    ]
    assert_no_temp(tmp_path)


@pytest.mark.parametrize("status", [403, 404])
def test_not_yet_published_exits_3_and_lands_nothing(publisher, tmp_path, capsys, status):
    url = publisher.set(f"yellow_tripdata_2024-0{status % 10}.parquet", ("status", status))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-04.parquet"
    code, _ = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == download.EXIT_NOT_YET
    assert not (tmp_path / "landing").exists()
    assert_no_temp(tmp_path)
    assert f"answered {status}: the month is not published yet" in ERR[0]


def test_5xx_then_ok_retries_with_backoff(publisher, tmp_path, capsys):
    body = parquet_bytes(2024, 5)
    url = publisher.set(
        "yellow_tripdata_2024-05.parquet", ("status", 503), ("status", 500), ("ok", body)
    )
    dest = tmp_path / "landing" / "yellow_tripdata_2024-05.parquet"
    code, summary = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == 0
    assert summary["attempts"] == 3
    assert dest.read_bytes() == body


def test_persistent_5xx_fails_with_exit_4_after_the_retries(publisher, tmp_path, capsys):
    url = publisher.set("yellow_tripdata_2024-06.parquet", ("status", 502))
    before = len(publisher.requests)
    dest = tmp_path / "landing" / "yellow_tripdata_2024-06.parquet"
    code, _ = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == download.EXIT_UNAVAILABLE
    assert len(publisher.requests) - before == 4  # 1 + --retries 3
    assert not dest.exists()
    assert "still failing after 4 attempt(s)" in ERR[0]


def test_truncated_body_is_retried_then_lands_the_whole_file(publisher, tmp_path, capsys):
    body = parquet_bytes(2024, 7)
    url = publisher.set("yellow_tripdata_2024-07.parquet", ("truncated", body), ("ok", body))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-07.parquet"
    code, summary = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == 0
    assert summary["attempts"] == 2
    assert dest.read_bytes() == body


def test_always_truncated_fails_and_lands_nothing(publisher, tmp_path, capsys):
    body = parquet_bytes(2024, 8)
    url = publisher.set("yellow_tripdata_2024-08.parquet", ("truncated", body))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-08.parquet"
    code, _ = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == download.EXIT_UNAVAILABLE
    assert "truncated body" in ERR[0]
    assert not (tmp_path / "landing").exists()
    assert_no_temp(tmp_path)


def test_deadline_bounds_the_whole_download(publisher, tmp_path, capsys):
    url = publisher.set("yellow_tripdata_2024-09.parquet", ("status", 503))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-09.parquet"
    code, _ = run_job(
        tmp_path,
        url,
        f"file://{dest}",
        "--retries",
        "100",
        "--backoff",
        "0.2",
        "--deadline",
        "1",
        capsys=capsys,
    )
    assert code == download.EXIT_UNAVAILABLE
    assert "deadline of 1.0 s passed" in ERR[0]


def wrong_columns() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"VendorID": [1, 2], "fare": [1.0, 2.0]}), buf)
    return buf.getvalue()


def no_rows() -> bytes:
    table = testdata.generate_month(2024, 1, 0).table
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"<html>" + b"x" * 500 + b"</html>", "is not a Parquet file", id="html-page"),
        pytest.param(b"PAR1" + b"\0" * 500 + b"PAR1", "Parquet footer", id="corrupt-footer"),
        pytest.param(wrong_columns(), "tpep_pickup_datetime", id="missing-columns"),
        pytest.param(no_rows(), "has no rows", id="no-rows"),
        pytest.param(b"PAR1", "outside the bounds", id="too-small"),
    ],
)
def test_wrong_content_is_refused_before_landing(publisher, tmp_path, capsys, content, message):
    url = publisher.set("yellow_tripdata_2024-10.parquet", ("ok", content))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-10.parquet"
    code, _ = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert code == 1
    assert message in ERR[0]
    assert not (tmp_path / "landing").exists()
    assert_no_temp(tmp_path)


def test_larger_than_max_bytes_is_refused(publisher, tmp_path, capsys):
    url = publisher.set("yellow_tripdata_2024-11.parquet", ("ok", parquet_bytes(2024, 11)))
    dest = tmp_path / "landing" / "yellow_tripdata_2024-11.parquet"
    code, _ = run_job(tmp_path, url, f"file://{dest}", "--max-bytes", "1000", capsys=capsys)
    assert code == 1
    assert "more than --max-bytes=1000" in ERR[0]


def test_unchanged_is_not_rewritten_and_republished_replaces(publisher, tmp_path, capsys):
    first, corrected = parquet_bytes(2024, 12), parquet_bytes(2024, 12, seed=7)
    name = "yellow_tripdata_2024-12.parquet"
    dest = tmp_path / "landing" / name
    url = publisher.set(name, ("ok", first))
    assert run_job(tmp_path, url, f"file://{dest}", capsys=capsys)[1]["action"] == "uploaded"
    stat = dest.stat()

    code, summary = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert (code, summary["action"]) == (0, "unchanged")
    assert (dest.stat().st_ino, dest.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)

    publisher.set(name, ("ok", corrected))
    code, summary = run_job(tmp_path, url, f"file://{dest}", capsys=capsys)
    assert (code, summary["action"], summary["replaced"]) == (0, "uploaded", True)
    assert dest.read_bytes() == corrected
    meta = json.loads((dest.parent / f".{name}.meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(corrected).hexdigest()


def test_unknown_dataset_is_a_usage_error(publisher, tmp_path, capsys):
    code = download.main(
        [
            "--uri",
            f"{BASE}/green_tripdata_2024-01.parquet",
            "--dest",
            f"file://{tmp_path}/x",
            "--dataset",
            "green",
        ]
    )
    assert code == 2
    assert "map its schema there" in capsys.readouterr().err


# --- S3: moto's server mode on loopback ----------------------------------------------------
BUCKET = "landing-test"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{S3_PORT}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_server,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_INGEST_ROLE_ARN", raising=False)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield client
    for v in client.list_object_versions(Bucket=BUCKET).get("Versions", []):
        client.delete_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])
    for m in client.list_object_versions(Bucket=BUCKET).get("DeleteMarkers", []):
        client.delete_object(Bucket=BUCKET, Key=m["Key"], VersionId=m["VersionId"])
    client.delete_bucket(Bucket=BUCKET)


def versions(client, key: str) -> list[dict]:
    return [
        v for v in client.list_object_versions(Bucket=BUCKET).get("Versions", []) if v["Key"] == key
    ]


def test_s3_put_unchanged_and_republished_make_exactly_the_right_versions(
    publisher, s3, tmp_path, capsys
):
    name = "yellow_tripdata_2023-03.parquet"
    key = f"trip data/{name}"
    first, corrected = parquet_bytes(2023, 3), parquet_bytes(2023, 3, seed=9)
    url = publisher.set(name, ("ok", first))
    dest = f"s3://{BUCKET}/{key}"

    code, summary = run_job(tmp_path, url, dest, capsys=capsys)
    assert (code, summary["action"]) == (0, "uploaded")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"] == {
        "source-url": url,
        "source-etag": hashlib.md5(first).hexdigest(),
        "source-last-modified": "Fri, 15 Mar 2024 10:00:00 GMT",
        "sha256": hashlib.sha256(first).hexdigest(),
    }
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == first
    assert summary["version_id"] == head["VersionId"]

    code, summary = run_job(tmp_path, url, dest, capsys=capsys)
    assert (code, summary["action"]) == (0, "unchanged")
    assert len(versions(s3, key)) == 1  # no new version: no S3 event, no batch run

    publisher.set(name, ("ok", corrected))
    code, summary = run_job(tmp_path, url, dest, capsys=capsys)
    assert (code, summary["action"], summary["replaced"]) == (0, "uploaded", True)
    assert len(versions(s3, key)) == 2  # exactly one new version: one new batch run
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == corrected


def test_s3_multipart_upload_of_a_large_file(publisher, s3, tmp_path, capsys):
    # ~2 MiB of rows, uploaded as a multipart upload with 5 MiB parts would be one part: make
    # the file larger than two parts with incompressible rows.
    body = parquet_bytes(2023, 4, rows=400_000)
    assert len(body) > 2 * download.S3_MIN_PART, len(body)
    name = "yellow_tripdata_2023-04.parquet"
    url = publisher.set(name, ("ok", body))
    key = f"trip data/{name}"
    code, summary = run_job(
        tmp_path,
        url,
        f"s3://{BUCKET}/{key}",
        "--multipart-threshold",
        str(download.S3_MIN_PART),
        "--part-size",
        "1",
        capsys=capsys,
    )
    assert (code, summary["action"]) == (0, "uploaded")
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    assert obj["Body"].read() == body
    assert obj["ETag"].strip('"').endswith(f"-{-(-len(body) // download.S3_MIN_PART)}")
    assert obj["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_s3_interrupted_multipart_upload_leaves_nothing(s3, tmp_path):
    path = tmp_path / "big.parquet"
    path.write_bytes(os.urandom(3 * download.S3_MIN_PART + 1234))
    key = "trip data/yellow_tripdata_2023-05.parquet"

    def terminate_after_first_part(number: int) -> None:
        if number == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what the kubelet sends at the Job deadline

    with pytest.raises(download.Terminated), download.sigterm_raises():
        download.upload_s3(
            s3,
            path,
            BUCKET,
            key,
            {"sha256": "x"},
            multipart_threshold=download.S3_MIN_PART,
            part_size=download.S3_MIN_PART,
            on_part=terminate_after_first_part,
        )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert versions(s3, key) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert signal.getsignal(signal.SIGTERM) is not None


def test_s3_error_during_multipart_upload_aborts_it(s3, tmp_path):
    path = tmp_path / "big.parquet"
    path.write_bytes(os.urandom(2 * download.S3_MIN_PART + 10))
    key = "trip data/yellow_tripdata_2023-06.parquet"

    def fail(number: int) -> None:
        raise OSError("disk read error")

    with pytest.raises(OSError, match="disk read error"):
        download.upload_s3(
            s3,
            path,
            BUCKET,
            key,
            {},
            multipart_threshold=download.S3_MIN_PART,
            part_size=download.S3_MIN_PART,
            on_part=fail,
        )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
