"""The supersonic challenge: the learning agent beside the scripted theta-beta-Mach controller.

For each seed: the agent (the closed loop: field encoder, scientist, safety envelope, PPO) is
trained on the challenge's schedule for ``--episodes`` passes and then evaluated once,
deterministically, on the same schedule; the scripted PI + theta-beta-Mach controller and the
do-nothing hold run the same challenge. All three are scored by the challenge's own audit
(``score = 100 exp(-MAE / 5 deg) 0.95^violations``). The table goes through the ablation
statistics: mean with a BCa bootstrap CI per controller (``evidence.stats``), IQM with a
stratified-bootstrap CI and the probability of improvement over the scripted controller
(``evidence.rl_stats``, Agarwal et al. 2021), and seed-paired differences.

Note: the wedge world starts from the same impulsive flow for every seed and the scripted and
hold controllers are deterministic, so their scores repeat across seeds (their CI collapses to
a point); only the agent's training (initial weights, exploration) depends on the seed.

    python benchmarks/bench_challenge_agent.py --seeds 10 --json challenge_agent.json
    (or split: --first-seed 0 --seeds 5 --json a.json; --first-seed 5 --seeds 5 --json b.json;
     then --merge a.json b.json --json challenge_agent.json)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONTROLLERS = ("agent", "scripted", "hold")


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The three controllers on one seed: score, MAE, violations, wall time."""
    from atom_sdk.design.challenge import run_supersonic_challenge
    from atom_sdk.design.challenge_agent import AgentBudget

    common = {"mach": args.mach, "grid": tuple(args.grid), "world_params": {"substeps": args.substeps},
              "preview": args.preview, "figure": False}
    row: dict[str, Any] = {"seed": seed}
    with tempfile.TemporaryDirectory(prefix="bench-challenge-") as tmp:
        for controller in CONTROLLERS:
            extra: dict[str, Any] = {"controller": controller}
            if controller == "agent":
                extra["agent_budget"] = AgentBudget(episodes=args.episodes, variant=args.variant)
            start = time.perf_counter()
            audit = run_supersonic_challenge(args.steps, Path(tmp) / controller, seed, **common, **extra)
            row[controller] = {"score": audit["score"], "mae_deg": audit["summary"]["mean_abs_error_deg"],
                               "violations": audit["violation_count"], "status": audit["status"],
                               "wall_seconds": time.perf_counter() - start}
            if controller == "agent":
                training = audit["controller"]["training"]
                row[controller].update(train_episode_mae_deg=training["episode_mean_abs_error_deg"],
                                       train_steps=training["train_steps"], final_trust=training["final_trust"],
                                       train_wall_seconds=training["wall_seconds"])
    return row


def statistics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means with CIs, IQM, probability of improvement and paired differences, per metric."""
    from atom_sdk.evidence.rl_stats import rl_statistics
    from atom_sdk.evidence.stats import bootstrap_mean_ci, paired_comparison

    metrics = {"score": "higher", "mae_deg": "lower"}
    per = {c: {m: [r[c][m] for r in rows] for m in metrics} for c in CONTROLLERS}
    means = {c: {m: bootstrap_mean_ci(per[c][m], key=f"{c}:{m}").to_dict() for m in metrics} for c in CONTROLLERS}
    values = {c: {m: {"supersonic:wedge": per[c][m]} for m in metrics} for c in CONTROLLERS}
    rl = rl_statistics(values, variants=list(CONTROLLERS), baseline="scripted", directions=metrics)
    rl_hold = rl_statistics(values, variants=list(CONTROLLERS), baseline="hold", directions=metrics)
    paired = {f"agent-{b}": {m: paired_comparison({r["seed"]: r["agent"][m] for r in rows},
                                                  {r["seed"]: r[b][m] for r in rows}, key=f"agent-{b}:{m}")
                             for m in metrics} for b in ("scripted", "hold")}
    return {"means": means, "rl_statistics": rl, "rl_statistics_vs_hold": rl_hold, "paired": paired}


def table(rows: list[dict[str, Any]], stats: dict[str, Any]) -> str:
    lines = [f"{'controller':<10} {'score mean [95% CI]':>28} {'IQM':>7} {'MAE deg':>8} {'P(>scripted)':>13} "
             f"{'P(>hold)':>9}"]
    rl = stats["rl_statistics"]["metrics"]["score"]["variants"]
    vs_hold = stats["rl_statistics_vs_hold"]["metrics"]["score"]["variants"]
    for c in CONTROLLERS:
        m = stats["means"][c]["score"]
        ci = (f"[{m['ci_low']:.1f}, {m['ci_high']:.1f}]" if m["ci_low"] is not None else "[-]")
        p = rl[c]["p_improvement"]
        mae = stats["means"][c]["mae_deg"]["mean"]
        ph = vs_hold[c]["p_improvement"]
        lines.append(f"{c:<10} {m['mean']:>10.1f} {ci:>17} {rl[c]['iqm']:>7.1f} {mae:>8.2f} "
                     f"{'' if p is None else f'{p:.2f}':>13} {'' if ph is None else f'{ph:.2f}':>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds FIRST..FIRST+N-1 (>= 10 for the claim)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (to split the seeds over processes)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="combine the rows of earlier --json files (same settings) instead of running")
    parser.add_argument("--episodes", type=int, default=12, help="agent training budget: passes over the schedule")
    parser.add_argument("--steps", type=int, default=100, help="agent steps of one challenge (and one episode)")
    parser.add_argument("--grid", type=int, nargs=3, default=[40, 30, 1], metavar=("NX", "NY", "NZ"))
    parser.add_argument("--substeps", type=int, default=120, help="solver steps per agent step")
    parser.add_argument("--preview", type=int, default=3,
                        help="steps of schedule look-ahead (both controllers; 3 is the scripted one's best here)")
    parser.add_argument("--mach", type=float, default=2.0)
    parser.add_argument("--variant", default="v2_hybrid")
    parser.add_argument("--json", dest="json_path", default=None, help="write rows, statistics and settings here")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.episodes < 1:
        parser.error("--seeds and --episodes must be at least 1")
    start = time.perf_counter()
    rows = []
    settings = {k: v for k, v in vars(args).items() if k not in ("json_path", "merge", "first_seed", "seeds")}
    if args.merge:
        for path in args.merge:
            saved = json.loads(Path(path).read_text())
            if saved["settings"] != settings:
                parser.error(f"{path} was run with other settings: {saved['settings']}")
            rows.extend(saved["rows"])
        rows.sort(key=lambda r: r["seed"])
    for seed in range(args.first_seed, args.first_seed + args.seeds) if not args.merge else ():
        rows.append(run_seed(seed, args))
        r = rows[-1]
        print(f"seed {seed}: agent {r['agent']['score']:.1f} (MAE {r['agent']['mae_deg']:.2f} deg, train "
              f"{r['agent']['train_wall_seconds']:.0f} s)  scripted {r['scripted']['score']:.1f}  "
              f"hold {r['hold']['score']:.1f}", flush=True)
    stats = statistics(rows)
    print(table(rows, stats))
    if args.json_path:
        out = {"benchmark": "challenge_agent", "settings": settings, "rows": rows, "statistics": stats,
               "wall_seconds": time.perf_counter() - start,
               "score_formula": "100 * exp(-MAE / 5 deg) * 0.95 ** violations"}
        Path(args.json_path).write_text(json.dumps(out, indent=2, allow_nan=False, default=_finite))
    return 0


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


if __name__ == "__main__":
    sys.exit(main())
