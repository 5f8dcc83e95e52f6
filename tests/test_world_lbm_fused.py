"""Fused periodic LBM kernels (native C++ via XLA FFI and the XLA pull program) vs the pure-JAX reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm, lbm_d3q19, lbm_fused, lbm_native

BACKENDS = ["xla"] + (["native"] if lbm_native.available() else [])
ATOL = 2e-6  # float32 round-off after 12 updates of populations of size <= 0.45


def _d2q9(nx: int = 20, ny: int = 14, seed: int = 0) -> jax.Array:
    rng = np.random.default_rng(seed)
    ux, uy = 0.05 * rng.standard_normal((2, nx, ny))
    rho = 1.0 + 0.01 * rng.standard_normal((nx, ny))
    return lbm.equilibrium(jnp.asarray(rho), jnp.asarray(ux), jnp.asarray(uy)).astype(jnp.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["bgk", "trt"])
@pytest.mark.parametrize("shape", [(20, 14), (10, 32)])  # ny % 16 == 0: the native 16-lane row (AVX-512)
def test_d2q9_fused_matches_reference(backend: str, kind: str, shape: tuple[int, int]) -> None:
    f0 = _d2q9(*shape)
    ref = np.asarray(lbm.run_periodic(f0 + 0, 12, 0.62, kind))
    out = np.asarray(lbm_fused.run_periodic_fused(f0, 12, 0.62, kind, backend=backend))
    assert np.abs(ref - np.asarray(f0)).max() > 1e-3  # the flow moved: the comparison means something
    np.testing.assert_allclose(out, ref, rtol=0, atol=ATOL)
    assert abs(float(out.sum()) - float(np.asarray(f0).sum())) < 1e-2  # mass conserved


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["bgk", "trt"])
def test_d3q19_fused_matches_reference(backend: str, kind: str) -> None:
    f0 = lbm_d3q19.initial_state((10, 8, 6), seed=1)
    ref = np.asarray(lbm_d3q19.run_periodic(f0, steps=12, tau=0.58, kind=kind))
    out = np.asarray(lbm_fused.run_periodic_fused(f0, 12, 0.58, kind, backend=backend))
    assert np.abs(ref - np.asarray(f0)).max() > 1e-3
    np.testing.assert_allclose(out, ref, rtol=0, atol=ATOL)


def test_d3q19_reference_conserves_and_shifts() -> None:
    """The reference itself: a uniform flow stays uniform; a lone population moves one link per step."""
    f = lbm_d3q19.equilibrium(jnp.ones((4, 4, 4)), *(jnp.full((4, 4, 4), 0.05),) * 3)
    np.testing.assert_allclose(np.asarray(lbm_d3q19.run_periodic(f, steps=3, tau=0.7)), np.asarray(f), atol=1e-6)
    g = jnp.zeros((19, 5, 5, 5)).at[7, 0, 0, 0].set(1.0)  # c_7 = (1, 1, 0)
    moved = np.asarray(lbm_d3q19.stream_periodic(g))
    assert moved[7, 1, 1, 0] == 1.0 and moved.sum() == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_is_vmappable_and_jittable(backend: str) -> None:
    batch = jnp.stack([_d2q9(12, 10, seed=s) for s in range(3)])
    run = jax.jit(jax.vmap(lambda f: lbm_fused.run_periodic_fused(f, 5, 0.7, "trt", backend=backend)))
    out = np.asarray(run(batch))
    for b in range(3):
        ref = np.asarray(lbm.run_periodic(batch[b] + 0, 5, 0.7, "trt"))
        np.testing.assert_allclose(out[b], ref, rtol=0, atol=ATOL)


def test_zero_steps_and_bad_input() -> None:
    f0 = _d2q9(8, 8)
    np.testing.assert_array_equal(np.asarray(lbm_fused.run_periodic_fused(f0, 0, 0.7)), np.asarray(f0))
    with pytest.raises(ValueError, match="mrt"):
        lbm_fused.run_periodic_fused(f0, 2, 0.7, "mrt")
    with pytest.raises(ValueError, match="tau must be > 0.5"):
        lbm_fused.run_periodic_fused(f0, 2, 0.5)
    with pytest.raises(ValueError, match="D3Q19"):
        lbm_fused.run_periodic_fused(jnp.zeros((5, 4, 4)), 2, 0.7)
    with pytest.raises(ValueError, match="backend"):
        lbm_fused.run_periodic_fused(f0, 2, 0.7, backend="warp")
    if jax.default_backend() != "gpu":  # the CUDA kernels name what runs without them
        with pytest.raises(RuntimeError, match="backend='auto' or 'xla'"):
            lbm_fused.run_periodic_fused(f0, 2, 0.7, backend="cuda")


@pytest.mark.skipif(not lbm_native.available(), reason="no C++ compiler for the native kernels")
def test_native_threads_agree_and_auto_picks_native_on_cpu() -> None:
    f0 = _d2q9(16, 16)
    one = np.asarray(lbm_fused.run_periodic_fused(f0, 6, 0.6, backend="native", threads=1))
    two = np.asarray(lbm_fused.run_periodic_fused(f0, 6, 0.6, backend="native", threads=2))
    np.testing.assert_array_equal(one, two)  # each cell is computed by exactly one thread
    assert lbm_fused.resolve_backend("auto", jnp.float32) == "native"
    with pytest.raises(ValueError, match="float32"):
        lbm_native.run_periodic_native(f0.astype(jnp.float16), 1, 1.0, 1.0)


@pytest.mark.skipif(not lbm_native.available(), reason="no C++ compiler for the native kernels")
@pytest.mark.parametrize("shape", [(20, 14), (3, 1), (1, 5), (5, 2), (7, 33), (6, 16), (5, 48)])
def test_native_time_blocking_is_bit_identical(shape: tuple[int, int]) -> None:
    """K updates per sweep (private rings of intermediate rows) give the single-pass bits, for any K and threads."""
    f0 = _d2q9(*shape, seed=3)
    ref = np.asarray(lbm.run_periodic(f0 + 0, 7, 0.66, "trt"))
    single = np.asarray(lbm_fused.run_periodic_fused(f0, 7, 0.66, backend="native", threads=1, time_block=1))
    np.testing.assert_allclose(single, ref, rtol=0, atol=ATOL)
    for block, threads in [(2, 2), (3, 1), (4, 2), (5, 2), (7, 1), (9, 2)]:  # 7 steps: whole, partial, one sweep
        out = np.asarray(lbm_fused.run_periodic_fused(f0, 7, 0.66, backend="native", threads=threads,
                                                      time_block=block))
        np.testing.assert_array_equal(out, single, err_msg=f"time_block={block} threads={threads}")


@pytest.mark.skipif(not lbm_native.available(), reason="no C++ compiler for the native kernels")
def test_native_copy_and_time_block_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    x = jnp.arange(9 * 6 * 5, dtype=jnp.float32).reshape(9, 6, 5)
    for repeats in (1, 2, 3):
        np.testing.assert_array_equal(np.asarray(lbm_native.copy_native(x, repeats, threads=2)), np.asarray(x))
    with pytest.raises(ValueError, match="repeats"):
        lbm_native.copy_native(x, 0)
    with pytest.raises(ValueError, match="time_block"):
        lbm_native.run_periodic_native(_d2q9(8, 8), 2, 1.5, 1.5, time_block=0)
    monkeypatch.delenv("ATOM_LBM_TIME_BLOCK", raising=False)
    # rings of 4 rows x 9 populations x ny floats per extra update, within 1 MiB, at most 8 updates
    assert [lbm_native.default_time_block(ny) for ny in (16, 512, 2048, 4096, 8192)] == [8, 8, 4, 2, 1]
    # and K - 1 at most an eighth of a thread's rows (the recomputed edge rows)
    assert [lbm_native.default_time_block(512, nx, threads=2) for nx in (512, 64, 32, 15)] == [8, 5, 3, 1]
    monkeypatch.setenv("ATOM_LBM_TIME_BLOCK", "3")
    assert lbm_native.default_time_block(512) == 3


def test_native_library_is_keyed_by_cpu_and_falls_back_without_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """-march=native code must not be reused on another CPU; without a compiler auto picks xla."""
    here = lbm_native._library_path("g++")
    monkeypatch.setattr(lbm_native, "_cpu_signature", lambda: "model name : another CPU")
    assert lbm_native._library_path("g++") != here
    monkeypatch.setattr(lbm_native, "_state", {})
    monkeypatch.setattr(lbm_native, "_compiler", lambda: None)
    assert not lbm_native.available()
    assert lbm_fused.resolve_backend("auto", jnp.float32) == "xla"
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        lbm_native.load()


def test_bench_report_is_consistent() -> None:
    """The bench's arithmetic (not its timings): 72 B per update, shares of the same-run copy bound."""
    from atom_sdk.worlds.bench import CONTENDED_LOAD, bytes_per_update, run_lbm_benchmarks

    assert bytes_per_update(9) == 72 and bytes_per_update(19) == 152
    r = run_lbm_benchmarks(size=16, steps=2, numpy_steps=1, rounds=1, collisions=("trt",), size3d=0, cylinder_grid=None)
    part = r["d2q9"]
    assert part["bytes_per_update"] == 72 and part["copy_bound"]["array_bytes"] == 9 * 16 * 16 * 4
    assert part["bound_mlups"] == pytest.approx(part["copy_bound"]["bytes_per_second"] / 72 / 1e6)
    kinds = {(row["kernel"], row.get("backend")) for row in part["rows"]}
    assert {("reference", None), ("fused", "xla"), ("numpy", None)} <= kinds
    bound = part["copy_bound"]
    assert bound["footprint_bytes"] == 2 * 9 * 16 * 16 * 4 and bound["resident_in"] in ("last-level cache", "DRAM", None)
    assert bound["bytes_per_second"] == max(m["bytes_per_second"] for m in bound["measured"].values())
    assert "copy xla" in bound["measured"]
    for row in part["rows"]:
        assert row["mlups"] > 0
        assert row["fraction_of_copy_bound"] == pytest.approx(row["mlups"] / part["bound_mlups"])
        if row.get("backend") == "native":
            assert row["threads"] == r["native_threads"]
            assert row["memory_bytes_per_update"] == pytest.approx(72 / row["time_block"])
        assert row["fraction_of_copy_bound_cpu"] == pytest.approx(
            row["mlups_per_cpu_second"] * 72e6 / part["copy_bound"]["bytes_per_cpu_second"])
    assert next(row for row in part["rows"] if row["kernel"] == "reference")["vs_reference"] == 1.0
    assert r["goal"]["case"].startswith("fused") and r["goal"]["target"] == 0.7
    assert r["goal"]["single_pass_case"].startswith("fused")
    assert bound["passes_per_round"] == 2 and bound["rounds"] == 1
    contended = r["load_average"]["before"][0] >= CONTENDED_LOAD  # then wall clock measures the scheduler
    assert r["goal"]["primary"] == ("per_cpu_second" if contended else "wall")
    assert r["goal"]["met"] == r["goal"]["met_per_cpu_second" if contended else "met_vs_copy_bound"]
    if lbm_native.available():
        assert "copy native" in bound["measured"] and bound["threads"] == r["native_threads"]
        assert {row["time_block"] for row in part["rows"] if row.get("backend") == "native"} == {1, r["native_time_block"]}
    assert len(r["load_average"]["before"]) == 3 and "d3q19" not in r
    with pytest.raises(ValueError, match="size must be"):
        run_lbm_benchmarks(size=2)
