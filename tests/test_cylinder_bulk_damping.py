"""The bulk-damped TRT collision used by the shedding benchmarks (cylinder.collide_bulk_damped).

Why these checks: the Schäfer–Turek 2D-2 maxima were inflated by the channel's acoustic standing
waves, which plain TRT hardly damps at tau near 1/2. Raising the bulk viscosity of the MRT collision
must (1) leave the kernel's MRT unchanged at its own bulk rate 1.4, (2) damp sound at the rate of
linear acoustics, Gamma = k^2 (nu + nu_b) / 2 with nu_b = c_s^2 (1/s_b - 1/2), and (3) leave a shear
wave, which has no compression, decaying at exactly nu k^2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.worlds import lbm
from atom_sdk.worlds.cylinder import collide_bulk_damped, make_substep

N = 64  # periodic box N x 4, one wavelength along x
K = 2 * math.pi / N


def _run(f0: jax.Array, tau: float, bulk: float | None, steps: int) -> np.ndarray:
    """Moments (rho, j_x, j_y) averaged over y, at every step of a periodic run."""
    def collide(f: jax.Array) -> jax.Array:
        return lbm.collide(f, tau, "trt") if bulk is None else collide_bulk_damped(f, tau, bulk)

    @jax.jit
    def run(f: jax.Array) -> jax.Array:
        def body(g, _):
            g = lbm.stream_periodic(collide(g))
            return g, jnp.stack([m.mean(axis=1) for m in lbm.moments(g)])
        return jax.lax.scan(body, f, None, length=steps)[1]

    return np.asarray(run(f0), dtype=np.float64)


def _mode(series: np.ndarray) -> np.ndarray:
    """Complex amplitude of the k = 2 pi / N Fourier mode of each row."""
    return series @ np.exp(-1j * K * np.arange(N))


def sound_decay_rate(tau: float, bulk: float | None, steps: int = 400, eps: float = 1e-3) -> float:
    """Amplitude decay rate of a standing sound wave, from its acoustic energy (no oscillation)."""
    x = np.arange(N)[:, None] * np.ones((1, 4))
    rho = jnp.asarray(1.0 + eps * np.cos(K * x), jnp.float32)
    zero = jnp.zeros_like(rho)
    m = _run(lbm.equilibrium(rho, zero, zero), tau, bulk, steps)
    energy = np.abs(_mode(m[:, 0])) ** 2 + np.abs(_mode(m[:, 1])) ** 2 / lbm.CS2
    t = np.arange(1, steps + 1)
    return float(-0.5 * np.polyfit(t[50:], np.log(energy[50:]), 1)[0])


def shear_decay_rate(tau: float, bulk: float | None, steps: int = 400, eps: float = 1e-2) -> float:
    """Decay rate of u_y = eps sin(k x), a divergence-free shear wave."""
    x = np.arange(N)[:, None] * np.ones((1, 4))
    uy = jnp.asarray(eps * np.sin(K * x), jnp.float32)
    m = _run(lbm.equilibrium(jnp.ones_like(uy), jnp.zeros_like(uy), uy), tau, bulk, steps)
    t = np.arange(1, steps + 1)
    return float(-np.polyfit(t[50:], np.log(np.abs(_mode(m[:, 2]))[50:]), 1)[0])


def test_the_kernels_own_bulk_rate_is_its_mrt_collision() -> None:
    key = jax.random.split(jax.random.PRNGKey(0), 4)
    rho = 1.0 + 0.01 * jax.random.normal(key[0], (16, 12))
    ux, uy = (0.05 * jax.random.normal(k, (16, 12)) for k in key[1:3])
    f = lbm.equilibrium(rho, ux, uy) + 1e-3 * jax.random.normal(key[3], (9, 16, 12))
    tau = 0.527
    mrt = lbm.collide(f, tau, "mrt")
    assert float(jnp.max(jnp.abs(collide_bulk_damped(f, tau, 1.4) - mrt))) < 2e-7
    damped = collide_bulk_damped(f, tau, 0.5)
    assert float(jnp.max(jnp.abs(damped - mrt))) > 1e-3  # the bulk rate does act...
    for a, b in zip(lbm.moments(damped), lbm.moments(mrt)):  # ...and conserves mass and momentum
        assert float(jnp.max(jnp.abs(a - b))) < 1e-6


@pytest.mark.parametrize("tau, bulk", [(0.527, 1.4), (0.527, 1.0), (0.6, 1.0), (0.6, 0.5)])
def test_sound_decays_at_the_rate_of_linear_acoustics_with_the_raised_bulk_viscosity(tau: float, bulk: float) -> None:
    nu, nu_bulk = lbm.viscosity(tau), lbm.CS2 * (1.0 / bulk - 0.5)
    expected = 0.5 * K * K * (nu + nu_bulk)
    assert sound_decay_rate(tau, bulk) == pytest.approx(expected, rel=0.05)


def test_bulk_damping_speeds_sound_decay_twentyfold_and_leaves_shear_untouched() -> None:
    tau = 0.527  # Schäfer–Turek 2D-2 at D = 30 cells, U = 0.03
    assert sound_decay_rate(tau, 0.5) > 20 * sound_decay_rate(tau, None)
    exact = lbm.viscosity(tau) * K * K
    assert shear_decay_rate(tau, None) == pytest.approx(exact, rel=0.01)
    assert shear_decay_rate(tau, 0.5) == pytest.approx(exact, rel=0.01)  # float32 fit: 0.3 % apart


def test_bulk_rate_is_refused_outside_mrt_or_its_stable_range() -> None:
    from atom_sdk.worlds.cylinder import CylinderWorld

    geo = CylinderWorld(grid=(220, 41, 1)).geometry
    for kind, bulk in (("bgk", 0.5), ("trt", 0.5), ("mrt", 2.0), ("mrt", 0.0)):
        with pytest.raises(ValueError, match="bulk_rate needs"):
            make_substep(geo, 0.53, kind, jnp.float32, bulk)


def _quarter_wave_peaks(series: np.ndarray, nx: int, window: int) -> list[float]:
    """Drag amplitude at the channel's quarter-wave modes f = (2n+1) c_s / 4 L, n = 1..3 (Hann window)."""
    x = series[-window:] - series[-window:].mean()
    amp = np.abs(np.fft.rfft(x * np.hanning(window))) / window * 4
    f = np.fft.rfftfreq(window)
    peaks = []
    for n in (1, 2, 3):
        fa = (2 * n + 1) * math.sqrt(lbm.CS2) / (4 * nx)
        peaks.append(float(amp[np.abs(f - fa) < 0.06 * fa].max()))
    return peaks


@pytest.mark.slow
def test_bulk_damping_removes_the_channels_acoustic_modes_from_the_drag(tmp_path) -> None:
    """2D-2 at D = 12, Ma 0.078, 35 D/U: the cause of the inflated C_D,max, and its cure.

    Measured: TRT's quarter-wave drag peaks 0.026 / 0.23 / 0.59 (larger than the whole shedding
    cycle), the bulk-damped MRT's 0.034 / 0.049 / 0.018, and only the damped run sheds cleanly.
    """
    from atom_sdk.worlds.cylinder import ST_BULK_RATE, schafer_turek_2d2

    kw = {"diameter": 12, "u_mean": 0.03, "steps": 14000, "measure": 4800, "kick_steps": 800}
    window = 9600  # the last 24 D/U
    trt = schafer_turek_2d2(**kw, series_path=str(tmp_path / "trt.npy"))
    damped = schafer_turek_2d2(**kw, collision="mrt", bulk_rate=ST_BULK_RATE, series_path=str(tmp_path / "mrt.npy"))
    nx = trt["cells"] // round(12 * 4.1)
    loud = _quarter_wave_peaks(np.load(tmp_path / "trt.npy")[0].astype(np.float64), nx, window)
    quiet = _quarter_wave_peaks(np.load(tmp_path / "mrt.npy")[0].astype(np.float64), nx, window)
    assert max(loud) > 0.1
    assert max(quiet) < 0.25 * max(loud)
    assert 0.28 < damped["strouhal"] < 0.32
    assert abs(damped["cd_max_cycle"] - damped["cd_max"]) < 0.1  # raw and cycle maxima agree once it is quiet
