"""benchmarks/gpu_validation.py (issue 15): the --tiny run's JSON, the time-cap skip, failure isolation, and the
GPU budgets it runs (kernel resolution on a GPU, averaging windows of whole organ-pipe periods)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_validation.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_validation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(out: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--tiny", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "gpu_validation.json").read_text())


def test_tiny_sphere_writes_finite_drag_device_and_timings(tmp_path: Path) -> None:
    """The D = 6 sphere for 4 chunks of 20 updates: a finite positive C_D (not a validation: 80 updates from
    rest), the blockage correction lowering it, the device and jax version, one chunk time per chunk."""
    report = _run(tmp_path, "--cases", "sphere", "--time-cap-s", "120")
    assert report["tiny"] and report["backend"] == "cpu" and report["devices"] and report["jax"]
    (case,) = report["cases"]
    assert case["case"] == "sphere" and case["status"] == "ok", case.get("traceback")
    assert math.isfinite(case["cd_unconfined"]) and 0 < case["cd_unconfined"] < case["cd_duct"]
    assert case["grid"] == [36, 18, 18] and case["updates"] == 80 and case["averaged_chunks"] == 2
    assert len(case["history"]["cd"]) == 4 and len(case["chunk_times_s"]) == 4
    assert case["chunk_times_s"] == sorted(case["chunk_times_s"]) and case["mlups_steady"] > 0
    assert case["passed"] is (abs(case["cd_rel_error"]) <= 0.05)
    assert 0 < case["estimate_s"] < case["wall_s"] * 5


def test_a_tiny_cap_skips_every_case_with_the_warm_up_estimate(tmp_path: Path) -> None:
    """A 1 ms cap: the first case runs its two warm-up chunks, estimates, and is skipped; the next finds no
    time left and is skipped without starting."""
    report = _run(tmp_path, "--cases", "tgv3d,sphere", "--time-cap-s", "0.001")
    first, second = report["cases"]
    assert first["status"] == "skipped" and first["estimate_s"] > 0.001 and len(first["chunk_times_s"]) == 2
    assert second["status"] == "skipped" and second["estimate_s"] is None and "no time left" in second["reason"]
    assert not (tmp_path / "tgv3d" / "report.json").exists()


def test_one_failing_case_is_recorded_and_the_next_still_runs(monkeypatch, tmp_path: Path) -> None:
    gv = _script()

    def broken(out, guard, tiny, kernel):
        raise RuntimeError("device out of memory (test)")

    def fine(out, guard, tiny, kernel):
        for i in range(1, 4):
            guard(i, 3, 0.0)
        return {"passed": True, "key": "ok", "mlups_steady": guard.steady_mlups(1000, 10)}

    monkeypatch.setitem(gv.RUNNERS, "sphere", broken)
    monkeypatch.setitem(gv.RUNNERS, "st3d", fine)
    assert gv.main(["--out", str(tmp_path), "--cases", "sphere,st3d", "--time-cap-s", "60"]) == 0
    failed, ok = json.loads((tmp_path / "gpu_validation.json").read_text())["cases"]
    assert failed["status"] == "failed" and "device out of memory (test)" in failed["traceback"]
    assert ok["status"] == "ok" and ok["passed"] and len(ok["chunk_times_s"]) == 3 and ok["mlups_steady"] > 0


def test_guard_estimates_after_the_warm_up_and_stops_an_overrun() -> None:
    gv = _script()
    guard = gv.Guard(left_s=1e6)
    guard(1, 100, 0.0)
    assert guard.estimate_s is None
    guard(2, 100, 0.0)
    per_chunk = guard.times[1] - guard.times[0]
    assert guard.estimate_s == pytest.approx(guard.times[1] + 98 * per_chunk)
    late = gv.Guard(left_s=0.0)
    late.estimate_s = 1.0
    late.times = [0.0, 0.0]
    with pytest.raises(gv.Skipped, match="stopped over the cap after 3 of 10"):
        late(3, 10, 0.0)
    with pytest.raises(SystemExit):
        gv.main(["--out", "/nonexistent-never-made", "--cases", "tgv4d"])


def test_auto_resolves_to_the_pure_jax_reference_on_a_gpu_backend(monkeypatch) -> None:
    """The GPU budgets must run the XLA reference there: the native channel kernel is CPU-only."""
    from atom_sdk.worlds import lbm3d_fused

    monkeypatch.setattr(lbm3d_fused.jax, "default_backend", lambda: "gpu")
    assert lbm3d_fused.resolve_kernel("auto", "trt", jnp.float32, (40, 12, 12)) == "reference"
    assert "CPU only" in lbm3d_fused.native_blocker("trt", jnp.float32, (40, 12, 12))


def test_gpu_budgets_average_over_whole_organ_pipe_periods() -> None:
    """Sphere D = 24 in a 6 D duct, 12 D long (the ``full`` proportions); its averaging window is three
    periods 4 L / c_s to 0.1 %; 3D-1Z at H = 123 = 3 x 41 averages one period; both about 26-30 D/U."""
    from atom_sdk.reproduce import taylor_green_3d as tgv
    from atom_sdk.worlds import lbm3d_validation as v

    s = v.SPHERE_BUDGETS["gpu"]
    assert 2 * s["radius"] == 24 and s["duct"] == 6 * 24 and s["length"] == 12 * 24
    assert s["average"] * s["chunk"] == pytest.approx(3 * v.organ_pipe_period(s["length"]), rel=1e-3)
    assert 28 < s["chunks"] * s["chunk"] * s["u"] / 24 < 32
    st = v.ST3_BUDGETS["gpu"]
    nx = round(2.5 / 0.41 * st["height"])
    assert st["height"] == 123 and st["average"] * st["chunk"] == pytest.approx(v.organ_pipe_period(nx), rel=1e-3)
    assert v.organ_pipe_period(144) == pytest.approx(998, abs=1)  # the period measured on the cpu budget: ~1000
    assert tgv.BUDGETS["full"] == {"n": 128, "t_end": 20.0, "samples": 200}
    with pytest.raises(ValueError, match="needs the keys"):
        v.sphere_re100(object, budget={"radius": 3.0})
    with pytest.raises(ValueError, match="average must be between"):
        v.steady_coefficients(None, chunks=4, chunk=10, average=5)


def test_dissipation_curve_reports_each_chunk_and_a_raising_hook_stops_it() -> None:
    from atom_sdk.reproduce.taylor_green_3d import dissipation_curve

    seen: list[tuple[int, int]] = []
    curve = dissipation_curve(16, 1.0, 5, progress=lambda done, total, _: seen.append((done, total)))
    assert [d for d, _ in seen] == list(range(1, len(curve["t"])))
    assert all(total == len(curve["t"]) - 1 for _, total in seen)  # the announced total is the chunks run

    def stop(done: int, total: int, elapsed: float) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dissipation_curve(16, 1.0, 5, progress=stop)
