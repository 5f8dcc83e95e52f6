"""The studio catalog: ready-made experiments a user can launch as they are or edit first.

Each template is the exact body of a POST to the endpoint it names, so the UI's "launch" button
and ``curl -d @template.json`` do the same thing.
"""

from __future__ import annotations

from typing import Any

#: The smallest settings that still exercise the whole loop (used by the quick templates and tests).
TINY_AGENT = {"rollout_length": 16, "num_minibatches": 2, "hidden_sizes": [16, 16], "latent_dim": 8,
              "fourier_modes": 2}
TINY_SCIENTIST = {"fit_every": 8, "min_samples": 16, "ensemble_size": 8}


def tiny_run_config(name: str = "tg_quick", *, variant: str = "v2_hybrid", steps: int = 32) -> dict[str, Any]:
    return {"name": name, "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1]}, "steps": steps,
            "variant": variant, "agent": dict(TINY_AGENT), "scientist": dict(TINY_SCIENTIST)}


def _quick_config() -> dict[str, Any]:
    """The quick template: few enough steps for seconds, enough that 1 % measurement noise lets a law through.

    With the tiny scientist's 32 steps of 0.1 time units the noise is larger than the amplitude's
    change per step, and the governor (rightly) accepts nothing; 0.5-unit steps and the default
    scientist give an accepted law near step 100 (measured: -0.0100 A + 0.9745 u0 - 0.0092 A^2).
    """
    config = tiny_run_config(steps=160)
    config["world"]["params"] = {"dt": 0.5}
    config["world"]["measurement_noise"] = 0.01
    del config["scientist"]
    return config


def _run_template(template_id: str, title: str, description: str, config: dict[str, Any],
                  seconds: int) -> dict[str, Any]:
    return {"id": template_id, "title": title, "description": description, "kind": "run", "endpoint": "/api/v1/runs",
            "body": {"config": config}, "estimated_seconds": seconds}


def _run_config(name: str, world: str, grid: list[int], steps: int, params: dict[str, Any] | None = None,
                agent: dict[str, Any] | None = None) -> dict[str, Any]:
    """A v2_hybrid run config with the default agent and scientist (agent settings given are changed)."""
    config: dict[str, Any] = {"name": name, "world": {"name": world, "grid": grid}, "steps": steps,
                              "variant": "v2_hybrid"}
    if params is not None:
        config["world"]["params"] = params
    if agent is not None:
        config["agent"] = agent
    return config


def templates() -> list[dict[str, Any]]:
    from atom_sdk.design import list_problems

    out: list[dict[str, Any]] = [
        _run_template("taylor_green_quick", "Taylor–Green: quick closed loop",
                      "8x8 Taylor–Green vortex at 1 % measurement noise, 160 steps of 0.5 time units, tiny agent: "
                      "the whole loop in seconds; the scientist accepts a first law for the vortex amplitude "
                      "near step 130 and the exact one near step 160.", _quick_config(), 40),
        _run_template("taylor_green_baseline", "Taylor–Green: PPO baseline (no scientist)",
                      "The same world with plain PPO, for comparison with the hybrid run.",
                      tiny_run_config("tg_baseline", variant="ppo_baseline"), 20),
        _run_template("taylor_green_discovery", "Taylor–Green: law discovery (v2_hybrid, 300 steps)",
                      "32x32 Taylor–Green vortex with the default agent and scientist; discovers the forced "
                      "amplitude law and gates theory features by trust.",
                      _run_config("tg_discovery", "analytical:taylor_green", [32, 32, 1], 300), 240),
        _run_template("cylinder_drag_control", "Cylinder: active drag reduction with jets",
                      "Channel flow past a cylinder (Schäfer–Turek geometry scaled to 96x34, Re 20) controlled by "
                      "two synthetic jets; the scientist models drag and lift.",
                      _run_config("cylinder_control", "lbm2d:cylinder", [96, 34, 1], 128,
                                  params={"reynolds": 20.0, "substeps": 40}, agent={"rollout_length": 32}),
                      600),
        _run_template("wedge_shock_run", "Supersonic wedge: closed loop on the shock angle",
                      "Mach-2 flow over a wedge whose angle the agent changes; the scientist relates the shock "
                      "angle and pressure ratio to the wedge.",
                      _run_config("wedge_loop", "supersonic:wedge", [64, 48, 1], 96, agent={"rollout_length": 32}),
                      600),
        {"id": "supersonic_challenge", "title": "Supersonic challenge: track a moving shock angle",
         "description": "PI + theta-beta-Mach feed-forward steers the wedge so the shock follows a schedule of holds, "
                        "steps and ramps; scored 0-100 with safety violations penalised. Pause/resume/cancel live.",
         "kind": "challenge", "endpoint": "/api/v1/challenges/supersonic/jobs",
         "body": {"steps": 120, "mach": 2.0, "grid": [48, 32, 1]}, "estimated_seconds": 120},
    ]
    for problem in list_problems():
        body = {k: problem[k] for k in ("problem", "backend", "iterations", "population", "top_k", "rollout_steps",
                                        "seed", "grid", "world_params") if k in problem}
        if problem.get("target") is not None:
            body["target"] = problem["target"]
        if problem.get("has_surrogate"):
            body["evaluator"] = "surrogate"
        out.append({"id": f"design_{problem['problem']}", "title": f"Inverse design: {problem['problem']}",
                    "description": problem["description"] + (" (analytical surrogate evaluator: seconds; switch "
                                                             "'evaluator' to 'rollout' for the real world)"
                                                             if problem.get("has_surrogate") else ""),
                    "kind": "inverse_design", "endpoint": "/api/v1/inverse-design/jobs",
                    "body": {"spec": {"name": f"design_{problem['problem']}", **body}},
                    "estimated_seconds": 10 if problem.get("has_surrogate") else 300})
    out.append({"id": "validate_taylor_green", "title": "Validate the Taylor–Green world",
                "description": "Run the world's physics validation cases against their analytical references.",
                "kind": "validation", "endpoint": "/api/v1/worlds/analytical:taylor_green/validate", "body": {},
                "estimated_seconds": 30})
    return out
