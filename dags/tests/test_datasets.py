"""The dataset registry: shipped file, defaults and every validation message."""

from __future__ import annotations

import pytest

from common import datasets


def test_shipped_registry_enables_only_yellow_with_the_plain_dag_ids():
    enabled = datasets.enabled()
    assert [d.name for d in enabled] == ["yellow"]
    assert (enabled[0].batch_dag_id, enabled[0].full_refresh_dag_id) == ("batch", "full_refresh")
    assert {d.name for d in datasets.load()} >= {"yellow", "green", "fhv", "fhvhv"}


def test_other_datasets_get_suffixed_dag_ids_and_their_file_pattern():
    green = datasets.get("green")
    assert (green.batch_dag_id, green.full_refresh_dag_id) == ("batch_green", "full_refresh_green")
    assert green.file_re.match("green_tripdata_2024-02.parquet").group("month") == "2024-02"
    assert not green.file_re.match("yellow_tripdata_2024-02.parquet")
    assert not green.file_re.match("green_tripdata_2024-13.parquet")


ENTRY = "  - {name: pink, file_prefix: pink_, landing_prefix: 'x/', description: d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("datasets: 3", "must be a mapping with a 'datasets' list"),
        (": :", "not valid YAML"),
        (f"datasets:\n{ENTRY}, colour: red}}", r"unknown field\(s\) colour"),
        ("datasets:\n  - {name: Pink}", "must be lower-case letters and digits"),
        (f"datasets:\n{ENTRY}, enabled: 'yes'}}", "enabled must be true or false"),
        (
            "datasets:\n  - {name: pink, file_prefix: a/b, landing_prefix: 'x/', description: d}",
            "cannot contain '/'",
        ),
        (
            "datasets:\n  - {name: pink, file_prefix: p_, landing_prefix: x, description: d}",
            "must end with '/'",
        ),
        (f"datasets:\n{ENTRY}}}\n{ENTRY}}}", "appear more than once"),
        (
            f"datasets:\n{ENTRY}, primary: true}}\n  - {{name: blue, file_prefix: b_, "
            "landing_prefix: 'x/', description: d, primary: true}",
            "only one dataset may be primary",
        ),
    ],
)
def test_malformed_registry_names_the_problem(text, message):
    with pytest.raises(datasets.RegistryError, match=message):
        datasets.parse(text)


INGEST_ENTRY = f"datasets:\n{ENTRY}}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ingest: 3\n" + INGEST_ENTRY, "ingest must be a mapping"),
        ("ingest: {colour: red}\n" + INGEST_ENTRY, r"ingest has unknown field\(s\) colour"),
        ("ingest: {patience_days: -1}\n" + INGEST_ENTRY, "patience_days=-1 must be a whole"),
        ("ingest: {patience_days: 'x'}\n" + INGEST_ENTRY, "patience_days='x' must be a whole"),
        ("ingest: {source_url: ftp://x}\n" + INGEST_ENTRY, "must be an http"),
        ("ingest: {schedule: '@daily'}\n" + INGEST_ENTRY, "schedule='@daily' must be monthly"),
        ("ingest: {schedule: '0 6 * * 1'}\n" + INGEST_ENTRY, "must be monthly"),
        ("ingest: {min_bytes: 10, max_bytes: 5}\n" + INGEST_ENTRY, "must be smaller than"),
        ("ingest: {poke_minutes: 0}\n" + INGEST_ENTRY, "must be at least 1"),
        ("ingestion: {}\n" + INGEST_ENTRY, r"unknown top-level key\(s\) ingestion"),
        (f"datasets:\n{ENTRY}, ingest_from: 2024-1}}", "ingest_from=.* must be a month"),
        (f"datasets:\n{ENTRY}, ingest_from: '2024-13'}}", "must be a month in quotes"),
        (f"datasets:\n{ENTRY}, source_url: '{{base}}/x.parquet'}}", "names no month"),
        (f"datasets:\n{ENTRY}, source_url: '{{base}}/{{mnth}}'}}", "unknown placeholder"),
        (f"datasets:\n{ENTRY}, source_url: 'ftp://h/{{month}}'}}", "must start with"),
    ],
)
def test_malformed_ingest_settings_name_the_problem(text, message):
    with pytest.raises(datasets.RegistryError, match=message):
        datasets.parse(text)


def test_adding_a_dataset_is_one_entry():
    text = f"datasets:\n{ENTRY}}}"
    (pink,) = datasets.parse(text)
    assert pink.enabled
    assert not pink.primary
    assert pink.batch_dag_id == "batch_pink"


def test_shipped_ingest_settings_and_source_urls():
    yellow = datasets.get("yellow")
    assert yellow.ingest_dag_id == "ingest"
    assert yellow.ingest_from == "2024-01"
    assert yellow.source("2024-03") == (
        "https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_2024-03.parquet"
    )
    assert yellow.source("2024-03", "http://127.0.0.1:1/mirror/") == (
        "http://127.0.0.1:1/mirror/yellow_tripdata_2024-03.parquet"
    )
    # The key the S3 trigger and the batch DAG's conf check expect.
    assert yellow.landing_key("2024-03") == "trip data/yellow_tripdata_2024-03.parquet"
    assert yellow.file_re.match(yellow.landing_key("2024-03").rsplit("/", 1)[-1])
    assert datasets.get("green").ingest_from is None  # no ingest DAG until enabled


def test_custom_source_template():
    text = (
        "ingest: {source_url: 'https://mirror.example/tlc', patience_days: 3}\n"
        f"datasets:\n{ENTRY}, ingest_from: '2023-11', "
        "source_url: '{base}/{dataset}/{month}/{file_name}'}"
    )
    (pink,) = datasets.parse(text)
    assert pink.ingest.patience_days == 3
    assert pink.ingest_dag_id == "ingest_pink"
    assert pink.source("2023-12") == "https://mirror.example/tlc/pink/2023-12/pink_2023-12.parquet"
