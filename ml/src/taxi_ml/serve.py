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

A background task checks the alias every ``MODEL_POLL_SECONDS`` (default 30) and loads the new
version when it moved; requests keep using the previous model until the new one is ready, and a
failed reload leaves the loaded model in place.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from taxi_ml import MODEL_ALIAS, config, features, registry
from taxi_ml import log as logmod
from taxi_ml.config import ServingConfig
from taxi_ml.errors import ConfigError

log = logmod.get_logger("taxi_ml.serve")  # not __name__: it is __main__ under python -m
MAX_TRIPS = 10_000


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

    def __init__(self, settings: ServingConfig) -> None:
        self.settings = settings
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
            model = mlflow.pyfunc.load_model(f"models:/{self.name}/{champ.version}")
            previous = self.current.version if self.current else None
            self.current = LoadedModel(champ.version, champ.run_id, model, time.time())
            self.last_error = None
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
            log.error("model_refresh_failed", model=self.name, error=self.last_error)


def _field_path(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def create_app(settings: ServingConfig | None = None) -> FastAPI:
    """The ASGI app; settings from the environment (``config.load_serving``) by default."""
    settings = settings or config.load_serving()
    holder = ModelHolder(settings)

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

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse(
            status_code=422,
            content={
                "message": message,
                "fields": [_field_path(e["loc"]) for e in errors],
                "detail": jsonable_encoder(errors, custom_encoder={Exception: str}),
            },
        )

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
                content={"message": f"no model loaded yet: {holder.last_error or 'loading'}"},
            )
        frame = features.to_model_frame(pd.DataFrame([t.model_dump() for t in body.trips]))
        pred = current.model.predict(frame)
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
