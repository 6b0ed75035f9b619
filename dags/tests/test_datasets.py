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


def test_adding_a_dataset_is_one_entry():
    text = f"datasets:\n{ENTRY}}}"
    (pink,) = datasets.parse(text)
    assert pink.enabled
    assert not pink.primary
    assert pink.batch_dag_id == "batch_pink"
