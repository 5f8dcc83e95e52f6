"""Reference dynamical systems with known laws, for tests, benchmarks and examples.

* :func:`damped_oscillator`: ``x' = v, v' = -k x - c v``
* :func:`lorenz`: ``x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z``
* :func:`taylor_green_amplitude`: the decaying Taylor-Green mode amplitude with forcing,
  ``dA/dt = -2 nu k^2 A + g u``, solved exactly with ``u`` held constant over each step
  (:class:`TaylorGreenAmplitude` steps it one control at a time, vectorised over a batch).
* :func:`add_noise`: Gaussian noise with a standard deviation of ``level`` times each column's std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "simulate_ode",
    "damped_oscillator",
    "lorenz",
    "taylor_green_amplitude",
    "TaylorGreenAmplitude",
    "piecewise_constant_control",
    "add_noise",
]


def simulate_ode(
    f: Callable[[float, np.ndarray], Sequence[float]], x0: Sequence[float], t: np.ndarray, rtol: float = 1e-10
) -> np.ndarray:
    """Accurate solution ``(len(t), n)`` of ``x' = f(t, x)`` at times ``t`` (DOP853)."""
    from scipy.integrate import solve_ivp

    sol = solve_ivp(f, (float(t[0]), float(t[-1])), list(x0), t_eval=t, method="DOP853", rtol=rtol, atol=rtol)
    if not sol.success:  # pragma: no cover - smooth test systems
        raise RuntimeError(sol.message)
    return sol.y.T


def damped_oscillator(
    k: float = 1.0, c: float = 0.1, x0: Sequence[float] = (2.0, 0.0), dt: float = 0.01, t_end: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, t_end, dt)
    return t, simulate_ode(lambda _t, z: [z[1], -k * z[0] - c * z[1]], x0, t)


def lorenz(
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    x0: Sequence[float] = (-8.0, 8.0, 27.0),
    dt: float = 0.002,
    t_end: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, t_end, dt)

    def f(_t: float, z: np.ndarray) -> list[float]:
        x, y, w = z
        return [sigma * (y - x), x * (rho - w) - y, x * y - beta * w]

    return t, simulate_ode(f, x0, t)


def piecewise_constant_control(
    n: int, hold: int, rng: np.random.Generator, low: float = -1.0, high: float = 1.0, batch: tuple[int, ...] = ()
) -> np.ndarray:
    """Random control ``(*batch, n)`` uniform in ``[low, high]``, redrawn every ``hold`` steps."""
    n_hold = -(-n // hold)
    return np.repeat(rng.uniform(low, high, (*batch, n_hold)), hold, axis=-1)[..., :n]


class TaylorGreenAmplitude:
    """Exact stepper of ``dA/dt = -2 nu k^2 A + g u`` over steps of ``dt`` with ``u`` held.

    ``A`` may be a scalar or an array (a batch of independent streams).
    """

    def __init__(
        self, nu: float = 0.01, k2: float = 2.0, g: float = 1.0, dt: float = 0.1, A0: float | np.ndarray = 1.0
    ):
        self.nu, self.k2, self.g, self.dt = float(nu), float(k2), float(g), float(dt)
        self.rate = 2.0 * self.nu * self.k2
        self.decay = float(np.exp(-self.rate * self.dt))
        self.gain = self.g * (1.0 - self.decay) / self.rate if self.rate > 0 else self.g * self.dt
        self.A = np.asarray(A0, dtype=float).copy()

    def step(self, u: float | np.ndarray) -> np.ndarray:
        self.A = self.A * self.decay + self.gain * np.asarray(u, dtype=float)
        return self.A.copy()


def taylor_green_amplitude(
    n: int,
    dt: float = 0.1,
    *,
    nu: float = 0.01,
    k2: float = 2.0,
    g: float = 1.0,
    hold: int = 10,
    A0: float = 0.0,
    rng: np.random.Generator | None = None,
    u: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, A (n, 1), u (n, 1))`` with ``u[i]`` held on ``[t[i], t[i+1])`` (exact solution)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    uu = piecewise_constant_control(n, hold, rng) if u is None else np.asarray(u, dtype=float).reshape(n)
    sim = TaylorGreenAmplitude(nu, k2, g, dt, A0)
    A = np.empty(n)
    A[0] = A0
    for i in range(n - 1):
        A[i + 1] = sim.step(uu[i])
    return np.arange(n) * dt, A[:, None], uu[:, None]


def add_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus Gaussian noise of std ``level * std(x)`` per column."""
    x = np.asarray(x, dtype=float)
    return x + level * x.std(axis=0) * rng.standard_normal(x.shape)
