"""The HTTP service on a real uvicorn server (loopback, ephemeral port) over a real registry."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pytest
import uvicorn
from mlflow import MlflowClient

from conftest import Platform, make_platform
from taxi_ml import _cli, config, features, serve, synthetic, train


@dataclass
class Service:
    url: str
    platform: Platform
    app: object


def _start(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 120 s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive()


def call(url: str, body: object | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def service(tmp_path_factory, mlflow_template, fare_frame) -> Iterator[Service]:
    with pytest.MonkeyPatch.context() as mp:
        platform = make_platform(tmp_path_factory.mktemp("serve"), mlflow_template, mp)
        platform.write_features(fare_frame)
        assert train.main(["--max-trials", "1", "--param", "max_iter=120"]) == _cli.EXIT_OK
        mp.setenv("MODEL_POLL_SECONDS", "0.5")
        # The tests of this module send traffic as fast as one client can (the reload test for
        # several seconds); the per-client rate limit has its own test with its own limits.
        mp.setenv("SERVE_RATE_PER_MINUTE", "0")
        app = serve.create_app()
        server, thread, url = _start(app)
        try:
            yield Service(url, platform, app)
        finally:
            _stop(server, thread)


def trips(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    df = synthetic.fare_features(n, ["2025-02"], seed=seed, noise=0.0)
    frame = features.to_model_frame(df)
    body = json.loads(frame.to_json(orient="records"))
    return body, synthetic.expected_fare(df)


def test_health_reports_the_loaded_champion(service: Service) -> None:
    status, body = call(f"{service.url}/health")
    assert status == 200
    assert (body["status"], body["model_name"], body["model_version"]) == ("ok", "fare-model", "1")
    assert call(f"{service.url}/livez") == (200, {"status": "alive"})


def test_predicts_many_trips_in_order(service: Service) -> None:
    body, expected = trips(300, seed=21)
    status, out = call(f"{service.url}/predict", {"trips": body})
    assert status == 200, out
    assert (out["model_name"], out["model_version"]) == ("fare-model", "1")
    pred = np.array(out["predictions"])
    assert pred.shape == (300,)
    assert np.mean(np.abs(pred - expected)) < 1.0  # learned the known fare; order preserved


def test_predicts_one_minimal_trip(service: Service) -> None:
    trip = {
        "pickup_location_id": 161,
        "dropoff_location_id": 236,
        "pickup_borough": "Manhattan",
        "dropoff_borough": "Manhattan",
        "trip_distance": 3.0,
        "pickup_hour": 11,
        "pickup_day_of_week": 2,
    }
    status, out = call(f"{service.url}/predict", {"trips": [trip]})
    assert status == 200, out
    # 3.00 + 2.50 × 3 miles × 1.2 (Manhattan) = 12.00 USD, weekday midday, no surcharge.
    assert out["predictions"][0] == pytest.approx(12.0, abs=1.5)


@pytest.mark.parametrize(
    ("change", "field", "phrase"),
    [
        ({"trip_distance": -2}, "trips.0.trip_distance", "greater than 0"),
        ({"pickup_hour": 24}, "trips.0.pickup_hour", "less than or equal to 23"),
        ({"pickup_location_id": "JFK"}, "trips.0.pickup_location_id", "valid integer"),
        ({"fare_amount": 12.0}, "trips.0.fare_amount", "Extra inputs are not permitted"),
        ({"pickup_borough": None}, "trips.0.pickup_borough", "valid string"),
        ({"is_weekend": True}, "trips.0", "contradicts pickup_day_of_week"),
    ],
)
def test_bad_field_is_a_422_naming_it(
    service: Service, change: dict, field: str, phrase: str
) -> None:
    body, _ = trips(2, seed=5)
    body[0] = {**body[0], "pickup_day_of_week": 3, "is_weekend": False, **change}
    status, out = call(f"{service.url}/predict", {"trips": body})
    assert status == 422
    assert field in out["fields"]
    assert f"{field}: " in out["message"]
    assert phrase in out["message"]


def test_missing_field_and_empty_batch_are_422(service: Service) -> None:
    body, _ = trips(1, seed=6)
    del body[0]["trip_distance"]
    status, out = call(f"{service.url}/predict", {"trips": body})
    assert (status, out["fields"]) == (422, ["trips.0.trip_distance"])
    assert "Field required" in out["message"]
    status, out = call(f"{service.url}/predict", {"trips": []})
    assert (status, out["fields"]) == (422, ["trips"])


def test_reloads_when_the_alias_moves(service: Service) -> None:
    # A second training run registers version 2; moving the alias to it must be picked up by
    # the background poll (0.5 s) without a restart.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", service.platform.tracking_uri)
        mp.setenv("WAREHOUSE", "duckdb")
        mp.setenv("WAREHOUSE_PATH", str(service.platform.warehouse))
        mp.delenv("DOCS_URI", raising=False)
        args = ["--max-trials", "1", "--param", "max_iter=60", "--from", "2024-12"]
        assert train.main(args) == 0
    client = MlflowClient(service.platform.tracking_uri)
    assert str(client.get_model_version_by_alias("fare-model", "champion").version) == "1"
    # Requests keep flowing while the alias moves and the new version loads: none may fail,
    # and once version 2 answers, version 1 never answers again.
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()
    body, _ = trips(3, seed=8)

    def traffic() -> None:
        while not stop.is_set():
            status, out = call(f"{service.url}/predict", {"trips": body})
            seen.append((status, out.get("model_version")))

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    time.sleep(0.5)
    client.set_registered_model_alias("fare-model", "champion", "2")
    deadline = time.monotonic() + 60
    while call(f"{service.url}/health")[1].get("model_version") != "2":
        assert time.monotonic() < deadline, "the service did not reload version 2 within 60 s"
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    sender.join(60)
    assert seen
    assert all(status == 200 for status, _ in seen), [r for r in seen if r[0] != 200][:10]
    versions = [v for _, v in seen]
    assert (versions[0], versions[-1]) == ("1", "2"), versions
    assert "1" not in versions[versions.index("2") :], versions
    body, _ = trips(3, seed=8)
    status, out = call(f"{service.url}/predict", {"trips": body})
    assert (status, out["model_version"]) == (200, "2")


def test_without_champion_health_and_predict_are_503(
    tmp_path, mlflow_template, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_platform(tmp_path, mlflow_template, monkeypatch)
    app = serve.create_app(config.load_serving())
    server, thread, url = _start(app)
    try:
        status, body = call(f"{url}/health")
        assert status == 503
        assert "no version of 'fare-model' has the alias 'champion'" in body["detail"]
        body_trips, _ = trips(1, seed=9)
        status, out = call(f"{url}/predict", {"trips": body_trips})
        assert status == 503
        assert "no model loaded" in out["message"]
    finally:
        _stop(server, thread)


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_metrics_count_requests_predictions_and_the_version(service: Service) -> None:
    body, _ = trips(7, seed=31)
    status, headers, _ = fetch(f"{service.url}/predict", json.dumps({"trips": body}).encode())
    assert status == 200
    version = headers["X-Model-Version"]
    assert version in ("1", "2")
    assert fetch(f"{service.url}/livez")[1]["X-Model-Version"] == version
    bad = fetch(f"{service.url}/predict", b'{"trips": [{"pickup_hour": 30}]}')
    assert (bad[0], bad[1]["X-Model-Version"]) == (422, version)
    assert json.loads(bad[2])["model_version"] == version
    status, headers, text = fetch(f"{service.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    metrics = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.decode().splitlines()
        if line and not line.startswith("#")
    }
    assert metrics[f'fare_api_predictions_total{{model_version="{version}"}}'] >= 7
    assert metrics['fare_api_model_version{model="fare-model"}'] == float(version)
    assert metrics['fare_api_requests_total{method="POST",path="/predict",status="200"}'] >= 1
    assert metrics['fare_api_requests_total{method="POST",path="/predict",status="422"}'] >= 1
    assert metrics['fare_api_request_duration_seconds_count{path="/predict"}'] >= 2
    assert 'fare_api_request_duration_seconds_bucket{le="0.1",path="/predict"}' in metrics
    assert metrics['fare_api_batch_trips_bucket{le="10.0"}'] >= 1
    assert metrics['fare_api_model_reloads_total{outcome="loaded"}'] >= 1


def test_requests_are_bounded(service: Service) -> None:
    limits = config.ServingLimits(
        max_trips=5, max_body_bytes=4096, rate_per_minute=6, max_in_flight=4, forwarded_hops=2
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", service.platform.tracking_uri)
        app = serve.create_app(replace(config.load_serving(), limits=limits))
    server, thread, url = _start(app)
    try:
        body, _ = trips(6, seed=41)
        status, out = call(f"{url}/predict", {"trips": body})
        assert (status, out["fields"]) == (422, ["trips"])
        assert "at most 5 items" in out["message"]
        status, _, raw = fetch(f"{url}/predict", b" " * 5000)
        assert status == 413
        assert b"exceeds 4096 bytes" in raw
        # 6 per minute = one every 10 s, bursts of 1: the second request in a row from one
        # client is refused, another client (X-Forwarded-For: "<client>, <load balancer>") not.
        one = json.dumps({"trips": body[:1]}).encode()
        as_client = {"X-Forwarded-For": "198.51.100.7, 203.0.113.20"}
        first = fetch(f"{url}/predict", one, as_client)
        assert first[0] == 200
        status, headers, raw = fetch(f"{url}/predict", one, as_client)
        assert (status, headers["Retry-After"]) == (429, "1")
        assert b"more than 6 requests per minute" in raw
        other = {"X-Forwarded-For": "198.51.100.8, 203.0.113.20"}
        assert fetch(f"{url}/predict", one, other)[0] == 200
        text = fetch(f"{url}/metrics")[2].decode()
        assert 'fare_api_rejected_requests_total{reason="rate_limited"} 1.0' in text
        assert 'fare_api_rejected_requests_total{reason="body_too_large"} 1.0' in text
    finally:
        _stop(server, thread)


def test_direct_artifact_uri_maps_the_servers_artifacts_to_its_destination() -> None:
    dest = "gs://acme-mlflow-artifacts/artifacts"
    uri = "mlflow-artifacts:/1/models/m-abc/artifacts"
    assert serve.direct_artifact_uri(uri, dest) == f"{dest}/1/models/m-abc/artifacts"
    with_host = "mlflow-artifacts://mlflow.mlflow.svc:5000/1/models/m-abc/artifacts"
    assert serve.direct_artifact_uri(with_host, dest) == f"{dest}/1/models/m-abc/artifacts"
    assert serve.direct_artifact_uri("file:///x/artifacts", dest) == "file:///x/artifacts"
    with pytest.raises(ValueError, match="unexpected model location"):
        serve.direct_artifact_uri("mlflow-artifacts:/1/../../etc", dest)
    with pytest.raises(config.ConfigError, match="MODEL_ARTIFACTS_DESTINATION"):
        config.load_serving(
            {"MLFLOW_TRACKING_URI": "http://m:5000", "MODEL_ARTIFACTS_DESTINATION": "x"}
        )
    with pytest.raises(config.ConfigError, match="SERVE_MAX_TRIPS='0'"):
        config.load_serving({"MLFLOW_TRACKING_URI": "http://m:5000", "SERVE_MAX_TRIPS": "0"})
