"""Every parameter and every diagnostic of every registered world has a unit and a description.

The diagnostics' keys are read by tracing the world's pure functions with ``jax.eval_shape`` (no
compilation), so a diagnostic added to a kernel without a unit fails here.
"""

from __future__ import annotations

import typing

import jax
import pytest

import atom_sdk
from atom_sdk.worlds.base import NOT_A_QUANTITY, param, param_units, params_schema
from atom_sdk.worlds.registry import describe_worlds, world_class

WORLD_IDS = [spec.world_id for spec in atom_sdk.list_worlds()]
#: small grids that pass each built-in world's own checks (the default grid otherwise)
SMALL = {"lbm2d:cylinder": (88, 36, 1), "supersonic:wedge": (48, 32, 1), "analytical:taylor_green": (8, 8, 1),
         "lbm3d:sphere": (32, 16, 16), "lbm3d:cylinder": (48, 17, 17), "lbm3d:body": (32, 16, 16)}


def _is_choice(annotation: object) -> bool:
    """bool, Literal or str (possibly Optional): a choice or a switch, not a quantity."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return True
    if args and typing.get_origin(annotation) is not typing.Literal:
        return all(_is_choice(a) for a in args)
    return annotation in (bool, str)


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_every_parameter_has_a_unit_and_a_description(world_id):
    model = world_class(world_id).Params
    units = param_units(model)
    assert units, f"{world_id} declares no parameters"
    for name, q in units.items():
        assert q.unit.strip(), f"{world_id}.{name} has no unit; declare it with worlds.base.param(unit=...)"
        assert q.description.strip(), f"{world_id}.{name} has no description"
        annotation = model.model_fields[name].annotation
        assert (q.unit == NOT_A_QUANTITY) == _is_choice(annotation), \
            f"{world_id}.{name}: '-' is for choices and switches only (unit {q.unit!r}, type {annotation})"
    schema = params_schema(model)["properties"]
    assert {k: v["unit"] for k, v in schema.items()} == {k: q.unit for k, q in units.items()}


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_every_diagnostic_has_a_unit_and_a_description(world_id):
    cls = world_class(world_id)
    world = cls(grid=SMALL.get(world_id, (32, 32, 1)))
    state = jax.eval_shape(world.dynamics.init, jax.random.PRNGKey(0))
    keys = set(jax.eval_shape(world.dynamics.diagnostics, state))
    declared = cls.diagnostic_units
    assert keys == set(declared), f"{world_id}: undeclared {keys - set(declared)}, stale {set(declared) - keys}"
    assert set(cls.observable_names) <= keys
    for name, q in declared.items():
        assert q.unit.strip() and q.description.strip(), f"{world_id} diagnostic {name}: {q}"


def test_units_reach_the_listing_and_the_api_schema():
    rows = {r["id"]: r for r in describe_worlds()}
    tg = rows["analytical:taylor_green"]
    assert tg["parameters_schema"]["properties"]["nu"]["unit"] == "L^2/T"
    assert {d["name"]: d["unit"] for d in tg["diagnostics"]}["amplitude"] == "L/T"
    assert [d["name"] for d in tg["diagnostics"] if d["measured"]] == ["amplitude"]
    wedge = rows["supersonic:wedge"]["parameters_schema"]["properties"]
    assert wedge["wedge_angle"]["unit"] == "deg" and wedge["limiter"]["unit"] == NOT_A_QUANTITY


def test_param_refuses_a_missing_unit():
    with pytest.raises(ValueError, match="unit and description"):
        param(1.0, unit="", description="x")
    with pytest.raises(ValueError, match="unit and description"):
        param(1.0, unit="1", description="")


def test_describe_cli_shows_units(capsys):
    import json

    from atom_sdk.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["worlds", "describe", "supersonic:wedge", "--json"])
    row = json.loads(capsys.readouterr().out)
    assert exit_info.value.code in (0, None)
    params = {p["name"]: p for p in row["parameters"]}
    assert params["wedge_angle"]["unit"] == "deg" and params["wedge_angle"]["constraints"] == ">= 0, < 45"
    assert {d["name"]: d["unit"] for d in row["diagnostics"]}["shock_angle"] == "deg"
    with pytest.raises(SystemExit) as exit_info:
        main(["worlds", "describe", "nope:nothing"])
    assert exit_info.value.code != 0


def test_summary_metrics_carry_units():
    from atom_sdk.experiment.units import summary_units
    from atom_sdk.worlds.wedge import WedgeWorld

    summary = {"steps": 10, "mean_return": -3.0, "final_trust": 0.5, "mean_shock_angle": 39.0,
               "mean_pressure_ratio": 2.0, "mean_unknown": 1.0}
    assert summary_units(WedgeWorld, summary) == {"steps": "count", "mean_return": "deg", "final_trust": "1",
                                                  "mean_shock_angle": "deg", "mean_pressure_ratio": "1"}
