"""The device loop (``experiment.device_loop``) against the host-stepped reference loop.

Same seed, same config, ``loop: "host"`` vs ``loop: "device"``: the telemetry (rewards, actions,
diagnostics, safety events), the episodes, the summary, the normaliser, the PRNG key and the
agent's final parameters must agree. Tolerance: the device's normaliser runs in float32 where
the host's runs in float64 and XLA fuses the act into the scan, so the agent's inputs differ by
float32 rounding (~1e-7 relative); we allow 1e-5 relative (1e-6 absolute) on actions, rewards and
diagnostics and 1e-4 relative (1e-5 absolute) on parameters and update metrics after three PPO updates (the
explained variance, a difference of near-equal variances, moved by 3e-6 absolute).
Everything the loop counts (steps, episodes, lengths, events, the key) must be equal exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import pytest

from atom_sdk.artifacts import read_jsonl
from atom_sdk.config import build_run_config, config_hash
from atom_sdk.errors import ConfigError
from atom_sdk.experiment import checkpoint as ckpt
from atom_sdk.experiment.device_loop import choose_loop
from atom_sdk.experiment.runner import EPISODE_SEED_STRIDE, run_experiment

RTOL, ATOL = 1e-5, 1e-6  # per-step values
PARAM_RTOL, PARAM_ATOL = 1e-4, 1e-5  # parameters and update metrics after the run's updates

#: 48 steps, rollouts of 16 (three updates), episodes of 12 steps (time-limit bootstraps and resets mid-segment)
TINY = {"world": {"name": "analytical:taylor_green", "grid": [8, 8, 4], "max_episode_steps": 12},
        "steps": 48, "seed": 5,
        "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 2, "hidden_sizes": [16, 16],
                  "latent_dim": 8, "fourier_modes": 2}}


#: the scientist of the scientist variants' pairs: its first fit at step 14, then one every 8 steps; without noise
#: the 48 steps accept a law at step 30 (trust 0.5, over the gate's 0.2), so a trusted theory reaches the agent and
#: the residual controller for the last 17 steps; with 0.1 % noise the law comes later (trust 0.45 at step 48)
SCIENTIST = {"min_samples": 16, "window": 64, "fit_every": 8, "ensemble_size": 5}


def _config(variant: str, loop: str, extra: dict | None = None, **safety) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg.update(variant=variant, loop=loop, name=f"{variant}-{loop}", **json.loads(json.dumps(extra or {})))
    if safety:
        cfg["safety"] = safety
    return cfg


def _pair(root: Path, variant: str, extra: dict | None = None, **safety) -> dict:
    runs = {}
    for loop in ("host", "device"):
        out = root / f"{variant}-{loop}"
        reported: list[int] = []
        cfg = _config(variant, loop, extra, **safety)
        results = run_experiment(cfg, out, progress=lambda step, total, info: reported.append(step))
        assert reported == list(range(1, TINY["steps"] + 1))  # every step reported once, in order
        runs[loop] = {"out": out, "results": results, "telemetry": read_jsonl(out / "telemetry.jsonl"),
                      "checkpoint": ckpt.load(out, config_hash(build_run_config(cfg)))}
    return runs


def _close(a, b, rtol=RTOL, atol=ATOL) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol)


def _assert_same_run(host: dict, device: dict) -> None:
    assert host["results"]["timings"]["loop"] == "host" and device["results"]["timings"]["loop"] == "device"
    ht, dt = host["telemetry"], device["telemetry"]
    assert [(l["kind"], l.get("step")) for l in ht] == [(l["kind"], l.get("step")) for l in dt]
    for h, d in zip(ht, dt):
        if h["kind"] == "step":
            assert (h["episode"], h["safety_mode"], sorted(h["diagnostics"])) == \
                   (d["episode"], d["safety_mode"], sorted(d["diagnostics"]))
            _close(h["action"], d["action"])
            _close(h["reward"], d["reward"])
            _close([h["diagnostics"][k] for k in sorted(h["diagnostics"])],
                   [d["diagnostics"][k] for k in sorted(d["diagnostics"])])
        elif h["kind"] == "safety":
            assert (h["reason"], h["intervention"], h["mode_before"], h["mode_after"]) == \
                   (d["reason"], d["intervention"], d["mode_before"], d["mode_after"])
        else:
            _close([h[k] for k in sorted(h) if k != "kind"], [d[k] for k in sorted(d) if k != "kind"],
                   PARAM_RTOL, PARAM_ATOL)
    he, de = host["results"]["episodes"], device["results"]["episodes"]
    assert [(e["length"], e["diverged"], e["unsafe"]) for e in he] == [(e["length"], e["diverged"], e["unsafe"])
                                                                      for e in de]
    _close([e["return"] for e in he], [e["return"] for e in de])
    hs, ds = host["results"]["summary"], device["results"]["summary"]
    assert sorted(hs) == sorted(ds)
    for k in hs:
        _close(0.0 if hs[k] is None else hs[k], 0.0 if ds[k] is None else ds[k])
    hsafe, dsafe = host["results"]["safety"], device["results"]["safety"]
    assert (hsafe.get("interventions"), hsafe.get("mode_steps")) == (dsafe.get("interventions"), dsafe.get("mode_steps"))
    hc, dc = host["checkpoint"], device["checkpoint"]
    np.testing.assert_array_equal(hc["key"], dc["key"])  # the same key sequence, split for split
    assert hc["normalizer"]["count"] == dc["normalizer"]["count"]
    _close(hc["normalizer"]["mean"], dc["normalizer"]["mean"])
    _close(hc["normalizer"]["m2"], dc["normalizer"]["m2"], PARAM_RTOL, PARAM_ATOL)
    _close(hc["obs"], dc["obs"])
    _close(hc["x_prev"], dc["x_prev"])
    assert (hc["loop"]["step"], hc["loop"]["episode"], hc["loop"]["updates"], hc["loop"]["telemetry_lines"]) == \
           (dc["loop"]["step"], dc["loop"]["episode"], dc["loop"]["updates"], dc["loop"]["telemetry_lines"])
    hp = flax.serialization.msgpack_restore(hc["agent"])
    dp = flax.serialization.msgpack_restore(dc["agent"])
    h_leaves, d_leaves = _leaves(hp), _leaves(dp)
    assert [k for k, _ in h_leaves] == [k for k, _ in d_leaves]
    for (name, a), (_, b) in zip(h_leaves, d_leaves):
        _close(a, b, PARAM_RTOL, PARAM_ATOL)


def _leaves(tree, prefix="") -> list[tuple[str, np.ndarray]]:
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k], f"{prefix}/{k}")]
    return [(prefix, np.asarray(tree))]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _pair(tmp_path_factory.mktemp("device-loop"), "ppo_baseline")


def test_ppo_baseline_device_loop_is_the_host_loop(baseline):
    _assert_same_run(baseline["host"], baseline["device"])
    used = baseline["device"]["results"]["timings"]["device_loop"]
    assert used == {"segments": 3, "device_steps": 48, "host_steps": 0}  # one segment per rollout, nothing host-stepped
    assert baseline["device"]["results"]["episodes"][0]["length"] == 12  # resets happened inside segments


def test_no_scientist_with_the_encoder_device_loop_is_the_host_loop(tmp_path):
    runs = _pair(tmp_path, "no_scientist")
    _assert_same_run(runs["host"], runs["device"])
    assert runs["device"]["results"]["timings"]["device_loop"]["device_steps"] == 48


def test_envelope_intervening_mid_segment_still_gives_the_host_run(tmp_path):
    # TG actions of this agent lie in +-0.05: a rate limit of 0.04 is clipped now and then, in nominal mode
    runs = _pair(tmp_path, "ppo_baseline", max_action_rate=0.04)
    _assert_same_run(runs["host"], runs["device"])
    safety = runs["device"]["results"]["safety"]
    assert safety["interventions"].get("clip", 0) > 0
    used = runs["device"]["results"]["timings"]["device_loop"]
    assert used["device_steps"] > 0 and used["host_steps"] > 0  # some steps from segments, the guarded ones host-stepped
    assert used["device_steps"] + used["host_steps"] == 48


def test_without_the_envelope_device_loop_is_the_host_loop(tmp_path):
    runs = _pair(tmp_path, "ppo_baseline", enabled=False)  # the replay world stands in for the world itself
    _assert_same_run(runs["host"], runs["device"])
    assert runs["device"]["results"]["timings"]["device_loop"]["device_steps"] == 48


def test_resume_of_a_device_run_finishes_it_to_the_same_result(baseline, tmp_path):
    cfg = _config("ppo_baseline", "device")
    out = tmp_path / "resumed"
    assert run_experiment(cfg, out, stop_after=20) == {"interrupted_at": 20}  # checkpoint at 16, a segment of 4
    resumed = run_experiment(cfg, out, resume=True)
    full = baseline["device"]["results"]
    strip = lambda r: json.dumps({k: v for k, v in r.items() if k not in ("timings", "provenance")}, sort_keys=True)
    assert strip(resumed) == strip(full)
    assert read_jsonl(out / "telemetry.jsonl") == baseline["device"]["telemetry"]


def test_device_loop_refused_with_the_reason_and_nothing_written(tmp_path):
    cfg = _config("v2_latent_jacobian", "device")
    with pytest.raises(ConfigError, match="latent science and the Jacobian.*loop: 'auto'"):
        run_experiment(cfg, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    for variant in ("v2_hybrid", "v2_residual", "v2_raw", "v1_raw"):  # the measured-variable scientist: device
        assert choose_loop(build_run_config(_config(variant, "auto")), stride=EPISODE_SEED_STRIDE) == ("device", None)
    from atom_sdk.experiment.device_science import science_loop_blocker
    from atom_sdk.experiment.variants import resolve_variant
    from atom_sdk.worlds.taylor_green import TaylorGreenWorld

    class OwnScale(TaylorGreenWorld):  # a sensor's full-scale noise (the cylinder's lift): the scan cannot see it
        def measurement_scale(self, clean):
            return np.ones_like(clean)

    noisy = build_run_config(_config("v2_hybrid", "auto", {"world": {**TINY["world"], "measurement_noise": 0.01}}))
    assert "measurement model" in science_loop_blocker(noisy, resolve_variant(noisy), OwnScale)
    assert science_loop_blocker(noisy, resolve_variant(noisy), TaylorGreenWorld) is None
    for variant, why in (("v2_latent_jacobian", "latent science"), ("ppo_recurrent", "recurrent core")):
        kind, reason = choose_loop(build_run_config(_config(variant, "auto")), stride=EPISODE_SEED_STRIDE)
        assert kind == "host" and why in reason
    auto = build_run_config(_config("ppo_baseline", "auto"))
    assert choose_loop(auto, stride=EPISODE_SEED_STRIDE) == ("device", None)
    assert choose_loop(auto, stride=EPISODE_SEED_STRIDE, observer=print)[0] == "host"
    big_seed = build_run_config({**_config("ppo_baseline", "device"), "seed": 2**31 - 10})
    with pytest.raises(ConfigError, match="32-bit"):
        choose_loop(big_seed, stride=EPISODE_SEED_STRIDE)
    # the loop is not part of what a run computes: it leaves the config hash alone
    assert config_hash(build_run_config(_config("ppo_baseline", "host"))) == config_hash(auto)


#: Programs a fresh process compiles for a 48-step ppo_baseline device-loop run on Taylor-Green 8x8x4 (see
#: the script). Nine are jitted programs: the world's init, staging the start state, PRNG seeding, splitting
#: and unstacking, the agent's parameters, the one segment program ``run`` (every segment, whatever its
#: length, resets and bootstraps inside), ``ppo.value`` (the update's last value) and one ``ppo.update``; the
#: other 31 are single eager operations while the world and its diagnostics are built and read (the host
#: loop's too). A second run in the process (another seed, stopped at step 21: segments of 16 and 5 steps)
#: compiles one program, the new world instance's own jitted init; the segment program is shared. A change
#: that compiles a program per segment length, per step or per run raises them.
EXPECTED_DEVICE_COMPILATIONS = (40, 1)

_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from atom_sdk.compilation import CompilationCounter
from atom_sdk.experiment.runner import run_experiment
cfg = json.loads(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    r = run_experiment(cfg, Path(tmp) / "run")
    with CompilationCounter() as again:
        run_experiment({**cfg, "seed": cfg["seed"] + 1}, Path(tmp) / "again", stop_after=21)
print("RESULT " + json.dumps({"compilations": [r["timings"]["compilations"], again.as_dict()["compilations"]],
                              "loop": r["timings"]["loop"], "device_loop": r["timings"]["device_loop"]}))
"""


def test_device_loop_compilations_are_pinned(tmp_path):
    env = {**os.environ, "ATOM_COMPILATION_CACHE": "off", "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cfg = _config("ppo_baseline", "device")
    done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(cfg)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads([l for l in done.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    assert result["loop"] == "device" and result["device_loop"]["segments"] == 3
    assert tuple(result["compilations"]) == EXPECTED_DEVICE_COMPILATIONS, result


def test_replay_world_answers_from_the_segment_until_the_action_differs():
    """The replay leaves the real world alone while actions match, hands out lazy snapshots that
    restore the recorded state, and on a different action steps the real world from the state before."""
    from atom_sdk.experiment.device_loop import ReplayWorld, Segment, SegmentProgram, StackedSnapshot, start_carry
    from atom_sdk.experiment.policy import Policy
    from atom_sdk.experiment.runner import make_world

    config = build_run_config(_config("ppo_baseline", "device"))
    world, twin = make_world(config), make_world(config)
    obs, _ = world.reset(seed=config.seed)
    twin.reset(seed=config.seed)
    policy = Policy(config, world)
    program = SegmentProgram.build(config, world, False, clean_fields=False, stride=EPISODE_SEED_STRIDE)
    start_state, _ = world.snapshot()
    final, outs = program(policy.agent, start_carry(policy, world, obs, 0), np.int32(config.seed), np.int32(5))
    segment = Segment(final, outs, 5, world.action_space.shape)
    replay = ReplayWorld(world, segment)
    for i in range(2):  # the recorded actions: recorded answers, the real world untouched
        action = segment.decision_parts(i)["env_action"]
        got = replay.step(action)
        expected = twin.step(action)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
        assert got[1] == pytest.approx(expected[1], rel=1e-6) and got[2:4] == expected[2:4]
        assert not replay.live and world.snapshot()[0] is start_state
    snap, twin_at_2 = replay.snapshot(), twin.snapshot()
    assert isinstance(snap, StackedSnapshot) and snap[1] == 2
    other = segment.decision_parts(2)["env_action"] + 0.01  # not what the scan applied: the real world steps
    got, expected = replay.step(other), twin.step(other)
    assert replay.live and world.snapshot()[1] == 3
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    replay.restore(snap)  # a rollback to the lazy snapshot taken after step 2
    assert world.snapshot()[1] == 2
    for a, b in zip(jax.tree.leaves(world.state), jax.tree.leaves(twin_at_2[0])):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-6, atol=1e-7)


def test_an_operator_request_during_a_segment_is_taken_at_the_next_step(tmp_path):
    """The envelope polls ``<run>/control`` on every replayed step, as on every host step."""
    from atom_sdk.safety.control import REBASELINE_FILE, request_rebaseline

    out = tmp_path / "run"

    def progress(step: int, total: int, info: dict) -> None:
        if step == 20:  # inside the second segment (steps 16..31), while its steps are recorded
            request_rebaseline(out / "control", "cli", "bob", "probe recalibrated")

    results = run_experiment(_config("ppo_baseline", "device"), out, progress=progress)
    (record,) = results["safety"]["shift"]["rebaselines"]
    assert record["step"] == 20 and record["who"] == "bob"  # where the host loop takes it: the step after
    events = [l for l in read_jsonl(out / "telemetry.jsonl") if l["kind"] == "safety"]
    assert [(e["step"], e["intervention"]) for e in events] == [(20, "rebaseline")]
    assert not (out / "control" / REBASELINE_FILE).exists()
    assert results["timings"]["device_loop"] == {"segments": 3, "device_steps": 48, "host_steps": 0}


def _assert_same_science(host: dict, device: dict) -> None:
    """The same laws and governance decisions, in the same order, and the trust to the per-step tolerance
    (the readings follow the float32 actions and state, which the scan rounds differently by ~1e-7)."""
    hr, dr = host["results"], device["results"]
    assert [law["equation"] for law in hr["laws"]] == [law["equation"] for law in dr["laws"]]
    assert hr["science_decisions"] == dr["science_decisions"]
    assert [s for s, _ in hr["trust_trajectory"]] == [s for s, _ in dr["trust_trajectory"]]
    _close([t for _, t in hr["trust_trajectory"]], [t for _, t in dr["trust_trajectory"]])
    ledger = [[(r["kind"], r.get("step"), [e["equation"] for e in r.get("equations") or ()])
               for r in read_jsonl(run["out"] / "ledger.jsonl")] for run in (host, device)]
    assert ledger[0] == ledger[1] and any(kind == "accepted" for kind, _, _ in ledger[0])
    fits = [[(l["step"], [x["kind"] for x in l["science"]]) for l in run["telemetry"] if "science" in l]
            for run in (host, device)]
    assert fits[0] == fits[1]


@pytest.mark.parametrize("variant,noise", [("v2_hybrid", 0.001), ("v2_residual", 0.0)])
def test_scientist_variants_device_loop_is_the_host_loop(tmp_path, variant, noise):
    """Segments cut at the fits and at the rollouts' ends, the theory frozen in each: fits at steps 14 (the episode
    end at step 11 buffers a terminal reading too, so the fit comes a step before the predicted 15 and the host
    cuts that segment when it sees it: 8 segments, not 7), 22, 30, 38 and 46; the readings measured with the bridge's draws (0.1 %
    noise for v2_hybrid); the residual controller in the scan."""
    extra = {"scientist": SCIENTIST, "world": {**TINY["world"], "measurement_noise": noise}}
    runs = _pair(tmp_path, variant, extra)
    _assert_same_run(runs["host"], runs["device"])
    _assert_same_science(runs["host"], runs["device"])
    assert runs["device"]["results"]["timings"]["device_loop"] == {"segments": 8, "device_steps": 48,
                                                                   "host_steps": 0}
    assert runs["device"]["results"]["summary"]["final_trust"] >= 0.2  # the trusted theory reached the agent
    decided = [l["step"] for l in runs["device"]["telemetry"] if "science" in l]
    assert decided == [22, 30, 38, 46]  # the fit at step 14 has too few held-out intervals to decide


def test_science_pieces_are_the_hosts():
    """The device control target is the world's, the draws are the bridge's generators, and the segment
    ends at the scientist's next fit (``Scientist._fit_due``) when each step buffers one reading."""
    from types import SimpleNamespace

    from atom_sdk.config import ScientistSettings
    from atom_sdk.experiment import device_science as ds
    from atom_sdk.experiment.policy import MEASUREMENT_STREAM
    from atom_sdk.science import Scientist
    from atom_sdk.worlds.taylor_green import TaylorGreenWorld

    world = TaylorGreenWorld(grid=(8, 8, 1), max_episode_steps=50)
    world.reset(seed=2)
    for a in (0.05, -0.05):
        world.step(np.array([a], np.float32))
        goal, weights = world.control_target()
        d_goal, d_weights = ds.DEVICE_TARGETS[world.world_id](world.dynamics.diagnostics(world._state))
        np.testing.assert_allclose(np.asarray(d_goal), goal, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(d_weights), weights)
    bridge = SimpleNamespace(n_vars=2, seed=7, measurement_noise=0.01)
    z = ds.segment_inputs(bridge, 10, 3, 16, True)["draws"]
    assert z.shape == (16, 2, 2) and not np.any(z[3:])
    np.testing.assert_allclose(z[1, 0], np.random.default_rng([7, MEASUREMENT_STREAM, 12, 0]).standard_normal(2),
                               rtol=1e-6)  # the reading before step 12
    np.testing.assert_allclose(z[2, 1], np.random.default_rng([7, MEASUREMENT_STREAM, 12, 1]).standard_normal(2),
                               rtol=1e-6)  # step 12's terminal reading
    assert not np.any(ds.segment_inputs(SimpleNamespace(n_vars=2, seed=7, measurement_noise=0.0), 0, 4, 16,
                                        False)["draws"])
    sci = Scientist(ScientistSettings(min_samples=16, window=64, fit_every=8), ["A"], ["u0"], 0.1)
    bridge = SimpleNamespace(scientist=sci)
    assert ds.fit_horizon(bridge, 0, 16) == 16  # 16 readings buffered after step 15: the fit is step 15's
    assert ds.fit_horizon(bridge, 0, 10) == 10
    for step in range(16):
        sci.observe(np.ones(1) * step, np.zeros(1))
        assert sci._fit_due(step) == (step == 15)
    sci._last_fit_step = 15
    assert ds.fit_horizon(bridge, 16, 16) == 8  # then every 8 steps: step 23
    assert ds.fit_horizon(SimpleNamespace(scientist=Scientist(ScientistSettings(enabled=False), ["A"], ["u0"], 0.1)),
                          0, 16) == 16


def test_theory_withheld_mid_segment_still_gives_the_host_run(tmp_path):
    """The envelope withholds the theory inside a segment: the segment is cut there, the rest follows the host.

    A shift monitor with a z threshold of 0.5 and a warm-up of 37 samples (34 steps plus the 3 reset observations)
    flags a shift at step 34. The law accepted at step 30 (trust 0.5) reaches the agent until then; the segment that
    started at step 32 (the second rollout's end at 31 cut the one before) runs to the fit at step 38 with
    ``theory_allowed`` frozen True, so the flip at step 34 lies inside it and must end it: a scan that went on
    would act on step 35 with the theory the host withholds. Segments 0-14, 15, 16-22, 23-30, 31 and 32-34 come
    from the device; from step 35 the envelope is guarded and the host steps."""
    extra = {"scientist": SCIENTIST, "world": {**TINY["world"], "measurement_noise": 0.0}}
    runs = _pair(tmp_path, "v2_hybrid", extra, shift_z_threshold=0.5, shift_warmup=37)
    _assert_same_run(runs["host"], runs["device"])
    _assert_same_science(runs["host"], runs["device"])
    device = runs["device"]
    decided = [l["step"] for l in device["telemetry"] if "science" in l]
    assert decided == [22, 30, 38, 46]
    assert [s for s, t in device["results"]["trust_trajectory"] if t >= 0.2][0] == 32  # trusted before the shift
    events = [(l["step"], l["reason"], l["intervention"], l["mode_before"], l["mode_after"])
              for l in device["telemetry"] if l["kind"] == "safety"]
    assert events[0] == (34, "SAFETY_SHIFT", "guard", "nominal", "guarded")  # the first event: the flip
    assert 30 < events[0][0] < 38 and events[0][0] % TINY["agent"]["rollout_length"] not in (0, 15)
    assert device["results"]["safety"]["shift"]["active"]
    assert device["results"]["timings"]["device_loop"] == {"segments": 6, "device_steps": 35, "host_steps": 13}


#: Programs a fresh process compiles for the 48-step v2_hybrid device-loop run of the scientist test above (no
#: noise; 8 segments, see the script). The ppo_baseline run's 40 (its nine jitted programs, here with the field
#: encoder's parameters and, inside the one ``run``, the measured-variable science and the trust-gated theory
#: features; its 31 eager operations) plus 7: ``_take``, the row of a segment's stacked world states read when the fit
#: at step 14 cuts a segment before its horizon (one program whatever the row), and six single eager operations while
#: the encoder's field observation is built (a stack of three 8x8x4 fields, two scalar products, a negation, a
#: broadcast and an add; the host loop compiles them too). The second run (another seed, stopped at step 21) again
#: compiles only its world's init: the segment program, the row read and the update are shared. A program per fit,
#: per segment length or per theory raises them.
EXPECTED_HYBRID_COMPILATIONS = (47, 1)


def test_hybrid_device_loop_compilations_are_pinned():
    env = {**os.environ, "ATOM_COMPILATION_CACHE": "off", "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cfg = _config("v2_hybrid", "device", {"scientist": SCIENTIST})
    done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(cfg)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads([l for l in done.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    assert result["loop"] == "device"
    assert result["device_loop"] == {"segments": 8, "device_steps": 48, "host_steps": 0}
    assert tuple(result["compilations"]) == EXPECTED_HYBRID_COMPILATIONS, result
