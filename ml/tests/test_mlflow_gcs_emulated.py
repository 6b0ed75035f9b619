"""MLflow with its artifacts in a ``gs://`` bucket, as in the cluster, against fake-gcs-server.

The MLflow server runs as ``components/mlflow`` runs it (``--serve-artifacts
--artifacts-destination gs://<bucket>/artifacts``), pointed at the emulator by
``STORAGE_EMULATOR_HOST`` (``libs/python/taxi_testing/emulators.py``, from
``testing/emulators/.venv``); the training job is the production ``train.main`` talking to that
server. Checked: the model is logged (its files land in the bucket), registered, aliased
``champion`` and loaded by the alias through the server, and loaded straight from ``gs://`` as
the serving pods read it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from google.cloud import storage
from mlflow import MlflowClient

from conftest import Platform, run_cli
from taxi_ml import features, synthetic, train
from taxi_testing import emulators

BUCKET = "acme-mlflow-artifacts"


@pytest.fixture(scope="module")
def mlflow_on_gcs(tmp_path_factory, mlflow_template: Path):
    root = tmp_path_factory.mktemp("mlflow-gcs")
    gcs = emulators.start_gcs(log_dir=root)
    server = None
    try:
        emulators.create_gcs_bucket(gcs, BUCKET)
        db = root / "mlflow.db"
        shutil.copyfile(mlflow_template, db)
        port = emulators.free_port()
        log = (root / "mlflow.log").open("ab")
        env = {
            **os.environ,
            "STORAGE_EMULATOR_HOST": gcs.endpoint,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        argv = [
            str(Path(sys.executable).with_name("mlflow")), "server",
            "--backend-store-uri", f"sqlite:///{db}",
            "--serve-artifacts", "--artifacts-destination", f"gs://{BUCKET}/artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        server = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    resp.read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "mlflow.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"MLflow server did not start:\n{tail}") from None
                time.sleep(0.5)
        yield url, gcs
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, 15)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
                server.wait(5)
        gcs.stop()


def test_log_register_alias_and_load_by_alias_with_gcs_artifacts(
    mlflow_on_gcs, platform: Platform, monkeypatch, fare_frame, capsys
):
    url, gcs = mlflow_on_gcs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    platform.write_features(fare_frame)

    code, summary, err = run_cli(
        train.main, ["--max-trials", "1", "--param", "max_iter=120", "--run-id", "gcs1"], capsys
    )
    assert code == 0, (summary, err[-2000:])
    assert (summary["decision"], summary["model_version"], summary["champion_version"]) == (
        "promoted",
        "1",
        "1",
    )

    # The files are in the bucket, written by the server through the GCS client.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
    names = [b.name for b in storage.Client().list_blobs(BUCKET, prefix="artifacts/")]
    mlmodels = [n for n in names if n.endswith("/MLmodel")]
    assert mlmodels, f"no MLmodel in gs://{BUCKET}/artifacts: {names[:20]}"
    assert any(n.endswith(".png") for n in names), "the run's plots are in the bucket too"

    client = MlflowClient(url)
    mv = client.get_model_version_by_alias("fare-model", "champion")
    assert str(mv.version) == "1"
    fresh = synthetic.fare_features(300, ["2025-02"], seed=5, noise=0.0)
    frame = features.to_model_frame(fresh)
    expected = synthetic.expected_fare(fresh)

    # By alias, through the tracking server (mlflow-artifacts:/ proxied to the bucket).
    by_alias = mlflow.pyfunc.load_model("models:/fare-model@champion")
    assert np.mean(np.abs(by_alias.predict(frame) - expected)) < 1.0

    # Straight from gs://, as the serving pods read the champion's files.
    model_dir = mlmodels[0].rsplit("/", 1)[0]
    direct = mlflow.pyfunc.load_model(f"gs://{BUCKET}/{model_dir}")
    np.testing.assert_allclose(direct.predict(frame), by_alias.predict(frame))
