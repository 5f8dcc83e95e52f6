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


def templates() -> list[dict[str, Any]]:
    from atom_sdk.design import list_problems

    out: list[dict[str, Any]] = [
        {"id": "taylor_green_quick", "title": "Taylor–Green: quick closed loop",
         "description": "8x8 Taylor–Green vortex, 32 steps, tiny agent and scientist: the whole loop in seconds; "
                        "the scientist proposes a law for the vortex amplitude.",
         "kind": "run", "endpoint": "/api/v1/runs", "body": {"config": tiny_run_config()}, "estimated_seconds": 30},
        {"id": "taylor_green_baseline", "title": "Taylor–Green: PPO baseline (no scientist)",
         "description": "The same world with plain PPO, for comparison with the hybrid run.",
         "kind": "run", "endpoint": "/api/v1/runs",
         "body": {"config": tiny_run_config("tg_baseline", variant="ppo_baseline")}, "estimated_seconds": 20},
        {"id": "taylor_green_discovery", "title": "Taylor–Green: law discovery (v2_hybrid, 300 steps)",
         "description": "32x32 Taylor–Green vortex with the default agent and scientist; discovers the forced "
                        "amplitude law and gates theory features by trust.",
         "kind": "run", "endpoint": "/api/v1/runs",
         "body": {"config": {"name": "tg_discovery", "world": {"name": "analytical:taylor_green", "grid": [32, 32, 1]},
                             "steps": 300, "variant": "v2_hybrid"}}, "estimated_seconds": 240},
        {"id": "cylinder_drag_control", "title": "Cylinder: active drag reduction with jets",
         "description": "Channel flow past a cylinder (Schäfer–Turek geometry scaled to 96x34, Re 20) controlled by "
                        "two synthetic jets; the scientist models drag and lift.",
         "kind": "run", "endpoint": "/api/v1/runs",
         "body": {"config": {"name": "cylinder_control", "world": {"name": "lbm2d:cylinder", "grid": [96, 34, 1],
                                                                   "params": {"reynolds": 20.0, "substeps": 40}},
                             "steps": 128, "variant": "v2_hybrid", "agent": {"rollout_length": 32}}},
         "estimated_seconds": 600},
        {"id": "wedge_shock_run", "title": "Supersonic wedge: closed loop on the shock angle",
         "description": "Mach-2 flow over a wedge whose angle the agent changes; the scientist relates the shock "
                        "angle and pressure ratio to the wedge.",
         "kind": "run", "endpoint": "/api/v1/runs",
         "body": {"config": {"name": "wedge_loop", "world": {"name": "supersonic:wedge", "grid": [64, 48, 1]},
                             "steps": 96, "variant": "v2_hybrid", "agent": {"rollout_length": 32}}},
         "estimated_seconds": 600},
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
