"""HTTP service for the fare model: ``models:/<MODEL_NAME>@champion`` behind FastAPI.

    python -m taxi_ml.serve [--host 0.0.0.0] [--port 8080]
    uvicorn --factory taxi_ml.serve:create_app          # the same app for any ASGI server

* ``POST /predict`` — body ``{"trips": [ {…}, … ]}`` (1 to 10,000 trips), each trip the
  ``fare_features`` columns the model takes; answers ``{"model_name", "model_version",
  "predictions": [USD, …]}`` in request order. A bad or unknown field is a 422 whose ``message``
  names it (``trips.0.trip_distance: Input should be greater than 0``), with pydantic's
  ``detail`` list alongside.
* ``GET /health`` — 200 with the loaded version, or 503 while no champion is loaded (readiness).
* ``GET /livez`` — 200 while the process runs (liveness).

* ``GET /metrics`` — Prometheus: requests, latency histogram, trips predicted, the loaded model
  version, reloads and rejected requests (the public route hides it; Prometheus scrapes pods).

Every response carries the loaded model version in the ``X-Model-Version`` header.

A background task checks the alias every ``MODEL_POLL_SECONDS`` (default 30) and loads the new
version when it moved; requests keep using the previous model until the new one is ready, and a
failed reload leaves the loaded model in place. With ``MODEL_ARTIFACTS_DESTINATION`` (the
tracking server's ``--artifacts-destination``) the model files are read there directly, with the
service's own read-only credentials, instead of through the tracking server.

The API changes nothing (it reads the registry and computes), so it may be public without
authentication as long as every request is bounded (``config.ServingLimits``): body size (413),
trips per request (422), requests per client per minute (429) and concurrent requests (503).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from taxi_ml import MODEL_ALIAS, config, features, registry
from taxi_ml import log as logmod
from taxi_ml.config import ServingConfig, ServingLimits
from taxi_ml.errors import ConfigError

log = logmod.get_logger("taxi_ml.serve")  # not __name__: it is __main__ under python -m
MAX_TRIPS = 10_000  # schema bound; the served bound is ServingLimits.max_trips (default 1,000)
VERSION_HEADER = "X-Model-Version"


class Trip(BaseModel):
    """One trip, in ``fare_features`` terms (docs/architecture.md data contract)."""

    model_config = ConfigDict(extra="forbid")

    pickup_location_id: int = Field(ge=1, le=263, description="TLC zone id of the pickup")
    dropoff_location_id: int = Field(ge=1, le=263, description="TLC zone id of the dropoff")
    pickup_borough: str = Field(min_length=1, max_length=32, examples=["Manhattan"])
    dropoff_borough: str = Field(min_length=1, max_length=32, examples=["Queens"])
    trip_distance: float = Field(gt=0, le=100, description="miles")
    pickup_hour: int = Field(ge=0, le=23)
    pickup_day_of_week: int = Field(ge=1, le=7, description="ISO: 1 = Monday … 7 = Sunday")
    is_weekend: bool | None = Field(
        default=None, description="derived from pickup_day_of_week when omitted"
    )
    is_airport_trip: bool = False
    passenger_count: int = Field(default=1, ge=1, le=6)
    ratecode_id: int | None = Field(default=None, ge=1, le=99, description="null = unknown")
    vendor_id: int | None = Field(default=None, ge=0, le=99, description="null = unknown")

    @model_validator(mode="after")
    def _weekend(self) -> Trip:
        derived = self.pickup_day_of_week >= 6
        if self.is_weekend is None:
            self.is_weekend = derived
        elif self.is_weekend != derived:
            raise ValueError(
                f"is_weekend={self.is_weekend} contradicts pickup_day_of_week="
                f"{self.pickup_day_of_week}; omit is_weekend to derive it"
            )
        return self


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trips: list[Trip] = Field(min_length=1, max_length=MAX_TRIPS)


class PredictResponse(BaseModel):
    model_name: str
    model_version: str
    predictions: list[float]


@dataclass(frozen=True)
class LoadedModel:
    version: str
    run_id: str | None
    model: Any
    loaded_at: float


class ModelHolder:
    """The champion currently served; :meth:`refresh` swaps it atomically when the alias moved."""

    def __init__(self, settings: ServingConfig, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.name = settings.tracking.model_name
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()  # one load at a time
        self._client = None

    def refresh(self) -> bool:
        """Load the champion if it is not the loaded version; True when a new one was loaded."""
        import mlflow

        with self._lock:
            if self._client is None:
                self._client = registry.client_for(self.settings.tracking)
            champ = registry.champion(self._client, self.name)
            if champ is None:
                self.last_error = f"no version of {self.name!r} has the alias {MODEL_ALIAS!r} yet"
                return False
            if self.current is not None and self.current.version == champ.version:
                self.last_error = None
                return False
            started = time.perf_counter()
            uri = f"models:/{self.name}/{champ.version}"
            if self.settings.artifacts_destination:
                uri = direct_artifact_uri(
                    self._client.get_model_version_download_uri(self.name, champ.version),
                    self.settings.artifacts_destination,
                )
            model = mlflow.pyfunc.load_model(uri)
            previous = self.current.version if self.current else None
            self.current = LoadedModel(champ.version, champ.run_id, model, time.time())
            self.last_error = None
            if self.metrics:
                self.metrics.loaded(self.name, champ.version)
            log.info(
                "model_loaded",
                model=self.name,
                version=champ.version,
                previous_version=previous,
                seconds=round(time.perf_counter() - started, 2),
            )
            return True

    def try_refresh(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - keep serving the loaded model; report it
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.metrics:
                self.metrics.reloads.labels("failed").inc()
            log.error("model_refresh_failed", model=self.name, error=self.last_error)


def direct_artifact_uri(download_uri: str, destination: str) -> str:
    """Where the tracking server keeps ``mlflow-artifacts:/<path>``: ``<destination>/<path>``
    (``--serve-artifacts --artifacts-destination <destination>``); other URIs are returned as
    they are (the store already names the real location)."""
    parsed = urlparse(download_uri)
    if parsed.scheme != "mlflow-artifacts":
        return download_uri
    path = parsed.path.lstrip("/")
    if not path or ".." in path.split("/"):
        raise ValueError(f"unexpected model location {download_uri!r}")
    return f"{destination}/{path}"


# Paths the metrics label by name; anything else is "other" (bounded label values).
_PATHS = ("/predict", "/health", "/livez", "/metrics", "/docs", "/openapi.json")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "fare_api_requests", "HTTP requests answered", ["path", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "fare_api_request_duration_seconds",
            "Time to answer a request",
            ["path"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "fare_api_predictions", "Trips predicted", ["model_version"], registry=r
        )
        self.batch = Histogram(
            "fare_api_batch_trips",
            "Trips per prediction request",
            buckets=(1, 10, 100, 250, 500, 1000, 2500, 10000),
            registry=r,
        )
        self.version = Gauge(
            "fare_api_model_version",
            "Registry version of the model being served (0 until one is loaded)",
            ["model"],
            registry=r,
        )
        self.reloads = Counter(
            "fare_api_model_reloads", "Model loads by outcome", ["outcome"], registry=r
        )
        self.rejected = Counter(
            "fare_api_rejected_requests",
            "Requests refused before prediction, by reason",
            ["reason"],
            registry=r,
        )

    def loaded(self, name: str, version: str) -> None:
        self.version.labels(name).set(int(version) if version.isdigit() else 0)
        self.reloads.labels("loaded").inc()


class _TokenBuckets:
    """Per-client token buckets: ``rate`` requests per minute, bursts up to ``rate / 6``."""

    def __init__(self, rate_per_minute: int, max_clients: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = max(1.0, rate_per_minute / 6)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str, now: float) -> bool:
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= self.max_clients and client not in self._buckets:
            self._buckets.clear()  # bounded memory: forget everyone rather than grow
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return False
        self._buckets[client] = (tokens - 1, now)
        return True


class _Rejected(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class BoundsAndMetrics:
    """ASGI middleware: body-size, rate and concurrency bounds on ``/predict``, the model version
    header on every response, and the request metrics."""

    def __init__(self, app, *, limits: ServingLimits, metrics: Metrics, holder: ModelHolder):
        self.app = app
        self.limits = limits
        self.metrics = metrics
        self.holder = holder
        self.buckets = _TokenBuckets(limits.rate_per_minute) if limits.rate_per_minute else None
        self.in_flight = 0

    def client(self, scope) -> str:
        hops = self.limits.forwarded_hops
        if hops:
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    entries = [e.strip() for e in value.decode("latin-1").split(",")]
                    if len(entries) >= hops and entries[-hops]:
                        return entries[-hops]
        peer = scope.get("client")
        return peer[0] if peer else "unknown"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in _PATHS else "other"
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_version(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                current = self.holder.current
                headers = list(message.get("headers", []))
                headers.append(
                    (
                        VERSION_HEADER.lower().encode(),
                        (current.version if current else "none").encode(),
                    )
                )
                message = {**message, "headers": headers}
            await send(message)

        counted = False
        try:
            if path == "/predict":
                self.check(scope)
                self.in_flight += 1
                counted = True
                receive = await self.read_body(receive)
            await self.app(scope, receive, send_with_version)
        except _Rejected as exc:
            self.metrics.rejected.labels(exc.reason).inc()
            await _send_json(send_with_version, exc.status, {"message": exc.message})
        finally:
            if counted:
                self.in_flight -= 1
            self.metrics.requests.labels(path, scope["method"], str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)

    def check(self, scope) -> None:
        limits = self.limits
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limits.max_body_bytes:
                raise _Rejected(
                    413,
                    "body_too_large",
                    f"request body of {int(value)} bytes exceeds {limits.max_body_bytes} bytes; "
                    f"send at most {limits.max_trips} trips per request",
                )
        if self.buckets and not self.buckets.allow(self.client(scope), time.monotonic()):
            raise _Rejected(
                429,
                "rate_limited",
                f"more than {limits.rate_per_minute} requests per minute from this client; "
                "slow down or batch trips into one request",
            )
        if self.in_flight >= limits.max_in_flight:
            raise _Rejected(503, "overloaded", "too many requests in progress; retry shortly")

    async def read_body(self, receive):
        """The whole body (at most ``max_body_bytes``, else 413), and a receive that replays it."""
        chunks, seen, limit = [], 0, self.limits.max_body_bytes
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _Rejected(413, "body_too_large", f"request body exceeds {limit} bytes")
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            + ([(b"retry-after", b"1")] if status in (429, 503) else []),
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _field_path(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def create_app(settings: ServingConfig | None = None) -> FastAPI:
    """The ASGI app; settings from the environment (``config.load_serving``) by default."""
    settings = settings or config.load_serving()
    metrics = Metrics()
    holder = ModelHolder(settings, metrics)
    metrics.version.labels(holder.name).set(0)
    limits = settings.limits

    async def poll() -> None:
        while True:
            await asyncio.sleep(settings.poll_seconds)
            await asyncio.to_thread(holder.try_refresh)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await asyncio.to_thread(holder.try_refresh)
        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="Fare model",
        version="1",
        description=f"Predicts the fare of NYC yellow-taxi trips with {holder.name}@{MODEL_ALIAS}.",
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.metrics = metrics
    app.add_middleware(BoundsAndMetrics, limits=limits, metrics=metrics, holder=holder)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid_response(exc.errors())

    def _invalid_response(errors) -> JSONResponse:
        message = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in errors)
        current = holder.current
        return JSONResponse(
            status_code=422,
            content={
                "message": message,
                "fields": [_field_path(e["loc"]) for e in errors],
                "model_version": current.version if current else None,
                "detail": jsonable_encoder(errors, custom_encoder={Exception: str}),
            },
        )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health")
    def health() -> JSONResponse:
        current = holder.current
        if current is None:
            return JSONResponse(
                status_code=503,
                content={
                    "status": "no_model",
                    "model_name": holder.name,
                    "detail": holder.last_error or "loading",
                },
            )
        return JSONResponse(
            {
                "status": "ok",
                "model_name": holder.name,
                "model_version": current.version,
                "alias": MODEL_ALIAS,
                "run_id": current.run_id,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(current.loaded_at)),
                "last_poll_error": holder.last_error,
            }
        )

    @app.post("/predict", response_model=PredictResponse)
    def predict(body: PredictRequest) -> PredictResponse | JSONResponse:
        current = holder.current  # one snapshot: a reload mid-request cannot mix versions
        if current is None:
            return JSONResponse(
                status_code=503,
                content={
                    "message": f"no model loaded yet: {holder.last_error or 'loading'}",
                    "model_version": None,
                },
            )
        if len(body.trips) > limits.max_trips:
            return _invalid_response(
                [
                    {
                        "type": "too_long",
                        "loc": ("body", "trips"),
                        "msg": f"List should have at most {limits.max_trips} items after "
                        f"validation, not {len(body.trips)}; split the trips into several requests",
                        "input": None,
                    }
                ]
            )
        frame = features.to_model_frame(pd.DataFrame([t.model_dump() for t in body.trips]))
        pred = current.model.predict(frame)
        metrics.predictions.labels(current.version).inc(len(pred))
        metrics.batch.observe(len(pred))
        return PredictResponse(
            model_name=holder.name,
            model_version=current.version,
            predictions=[round(float(p), 2) for p in pred],
        )

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taxi_ml.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (image: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    logmod.configure(args.log_level, extra_loggers=("uvicorn", "uvicorn.error", "uvicorn.access"))
    try:
        app = create_app()
    except ConfigError as exc:
        log.error("serve_failed", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
