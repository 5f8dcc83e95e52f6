"""Reference dynamical systems with known laws, for tests, benchmarks and examples.

Each law is defined once here: its vector field (``*_rhs``) and its true coefficients over
the :class:`~atom_sdk.science.library.Library` term names (``*_law``, ``{target: {term:
coefficient}}``). The scientific-integrity benchmark (``atom_sdk.evidence.integrity_systems``)
samples these same laws.

* damped oscillator: ``x' = v, v' = -k x - c v`` (:func:`damped_oscillator`)
* Lorenz: ``x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z`` (:func:`lorenz`)
* Van der Pol: ``x' = y, y' = mu y - mu x^2 y - x``
* Hopf normal form: ``x' = mu x - w y - x(x^2+y^2)``, ``y' = w x + mu y - y(x^2+y^2)``
* Taylor-Green mode amplitude with forcing, ``dA/dt = -2 nu k^2 A + g u``, solved exactly with
  ``u`` held constant over each step (:func:`taylor_green_amplitude`;
  :class:`TaylorGreenAmplitude` steps it one control at a time, vectorised over a batch).
* 1D heat equation ``u_t = nu u_xx`` on a periodic grid (:func:`heat_equation_field`, the exact
  Fourier solution).
* :func:`add_noise`: Gaussian noise with a standard deviation of ``level`` times each column's std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "simulate_ode",
    "damped_oscillator",
    "damped_oscillator_rhs",
    "damped_oscillator_law",
    "lorenz",
    "lorenz_rhs",
    "lorenz_law",
    "van_der_pol_rhs",
    "van_der_pol_law",
    "hopf_rhs",
    "hopf_law",
    "taylor_green_law",
    "heat_equation_field",
    "heat_equation_law",
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


Law = dict[str, dict[str, float]]
Rhs = Callable[[float, np.ndarray], list[float]]


def damped_oscillator_rhs(k: float, c: float) -> Rhs:
    return lambda _t, z: [z[1], -k * z[0] - c * z[1]]


def damped_oscillator_law(k: float, c: float) -> Law:
    return {"x": {"v": 1.0}, "v": {"x": -k, "v": -c}}


def damped_oscillator(
    k: float = 1.0, c: float = 0.1, x0: Sequence[float] = (2.0, 0.0), dt: float = 0.01, t_end: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, t_end, dt)
    return t, simulate_ode(damped_oscillator_rhs(k, c), x0, t)


def lorenz_rhs(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> Rhs:
    def f(_t: float, z: np.ndarray) -> list[float]:
        x, y, w = z
        return [sigma * (y - x), x * (rho - w) - y, x * y - beta * w]

    return f


def lorenz_law(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> Law:
    return {"x": {"x": -sigma, "y": sigma}, "y": {"x": rho, "y": -1.0, "x*z": -1.0}, "z": {"x*y": 1.0, "z": -beta}}


def lorenz(
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    x0: Sequence[float] = (-8.0, 8.0, 27.0),
    dt: float = 0.002,
    t_end: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, t_end, dt)
    return t, simulate_ode(lorenz_rhs(sigma, rho, beta), x0, t)


def van_der_pol_rhs(mu: float) -> Rhs:
    return lambda _t, z: [z[1], mu * (1 - z[0] ** 2) * z[1] - z[0]]


def van_der_pol_law(mu: float) -> Law:
    return {"x": {"y": 1.0}, "y": {"x": -1.0, "y": mu, "x^2*y": -mu}}


def hopf_rhs(mu: float, omega: float) -> Rhs:
    def f(_t: float, z: np.ndarray) -> list[float]:
        x, y = z
        r2 = x * x + y * y
        return [mu * x - omega * y - x * r2, omega * x + mu * y - y * r2]

    return f


def hopf_law(mu: float, omega: float) -> Law:
    return {"x": {"x": mu, "y": -omega, "x^3": -1.0, "x*y^2": -1.0},
            "y": {"x": omega, "y": mu, "x^2*y": -1.0, "y^3": -1.0}}


def taylor_green_law(nu: float, k2: float = 1.0, g: float = 1.0) -> Law:
    """``dA/dt = -2 nu k^2 A + g u`` over the names ``A`` and ``u``."""
    return {"A": {"A": -2 * nu * k2, "u": g}}


def heat_equation_field(
    n: int, dt: float, nu: float, nx: int, rng: np.random.Generator, modes: Sequence[int] = (1, 2, 3)
) -> np.ndarray:
    """Exact periodic solution ``u(x, t) = sum_k a_k cos(k x + p_k) exp(-nu k^2 t)`` ``(n, nx)``
    at ``t = 0, dt, ...``, with ``a_k ~ U(0.5, 1)`` and ``p_k ~ U(0, 2 pi)``."""
    xg = np.arange(nx) * (2 * np.pi / nx)
    t = np.arange(n) * dt
    u = np.zeros((n, nx))
    for k in modes:
        a, p = rng.uniform(0.5, 1.0), rng.uniform(0, 2 * np.pi)
        u += a * np.cos(k * xg[None, :] + p) * np.exp(-nu * k * k * t[:, None])
    return u


def heat_equation_law(nu: float) -> Law:
    """``u_t = nu u_xx`` with the spatial derivatives ``u_x``, ``u_xx`` as inputs."""
    return {"u": {"u_xx": nu}}


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
