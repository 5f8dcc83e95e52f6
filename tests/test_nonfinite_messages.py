"""NaN and infinity are reported as "must be a finite number, got nan" wherever a value is checked, never as
breaking a bound (NaN breaks none), and without a stray "(got {...})"; evaluation overrides name the bare key,
which both the CLI (--world-NAME) and the HTTP API (world_overrides.NAME) users recognise."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from atom_sdk.config import build_run_config, load_run_config
from atom_sdk.errors import ConfigError, WorldParameterError, error_problem
from atom_sdk.worlds.base import parse_params
from atom_sdk.worlds.taylor_green import TaylorGreenWorld

TG = {"name": "analytical:taylor_green", "grid": [8, 8, 1]}


def _refusal(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        build_run_config({"name": "x", **data})
    return str(err.value)


@pytest.mark.parametrize(("data", "key", "shown"), [
    ({"agent": {"learning_rate": math.nan}}, "'agent.learning_rate'", "nan"),
    ({"world": {**TG, "measurement_noise": math.nan}}, "'world.measurement_noise'", "nan"),
    ({"world": {**TG, "params": {"nu": math.nan}}}, "world parameter 'nu'", "nan"),
    ({"world": {**TG, "params": {"nu": "nan"}}}, "world parameter 'nu'", "nan"),
    ({"world": {**TG, "params": {"nu": "-Infinity"}}}, "world parameter 'nu'", "-inf"),
    ({"steps": math.inf}, "'steps'", "inf"),
])
def test_config_reports_nonfinite_values(data: dict, key: str, shown: str) -> None:
    message = _refusal(data)
    assert key in message and message.endswith(f"must be a finite number, got {shown}")
    assert "less than" not in message and "(got" not in message


def test_other_config_errors_keep_their_message_and_value() -> None:
    assert _refusal({"agent": {"learning_rate": 5.0}}).endswith(
        "'agent.learning_rate': Input should be less than or equal to 1 (got 5.0)")
    assert "finite" not in _refusal({"variant": "nan"})  # a text field that happens to read "nan"


@pytest.mark.parametrize(("text", "suffix"), [("agent:\n  learning_rate: .nan\n", ".yaml"),
                                              ("[world]\nmeasurement_noise = nan\n", ".toml")])
def test_config_files_with_nan(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_run_config(path)
    assert str(err.value).endswith("must be a finite number, got nan")


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "nan"), ("nan", "nan"), (-math.inf, "-inf")])
def test_world_parameters_report_nonfinite_values(value: object, shown: str) -> None:
    with pytest.raises(WorldParameterError) as err:
        parse_params(TaylorGreenWorld.Params, {"nu": value}, "analytical:taylor_green")
    assert str(err.value) == f"analytical:taylor_green: parameter 'nu': must be a finite number, got {shown}"


def test_error_problem_leaves_mappings_out() -> None:
    assert error_problem({"type": "value_error", "msg": "Value error, bad thing", "input": {"a": 1}}) == "bad thing"
    assert error_problem({"type": "int_type", "msg": "Input should be a valid integer", "input": "x"}) == (
        "Input should be a valid integer (got 'x')")


def test_evaluation_override_names_the_key_not_a_cli_flag() -> None:
    from atom_sdk.experiment.evaluate import _apply_overrides

    config = build_run_config({"name": "x", "world": TG})
    with pytest.raises(WorldParameterError) as err:
        _apply_overrides(config, {"nu": math.nan})
    message = str(err.value)
    assert message.startswith("world override 'nu' rejected: ") and "--world" not in message
    assert message.endswith("must be a finite number, got nan")


def test_http_validation_reports_nan_as_not_finite(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.testing import settings_for

    with TestClient(create_app(settings_for(tmp_path))) as client:
        r = client.post("/api/v1/challenges/supersonic/jobs", content=b'{"mach": NaN, "steps": 20}',
                        headers={"content-type": "application/json"})
    assert r.status_code == 422
    body = r.json()
    assert "'mach': must be a finite number, got nan" in body["message"] and "less than" not in body["message"]
