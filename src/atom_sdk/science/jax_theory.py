"""The scientist's accepted theory as a JAX pytree: its features and its controller on the device.

Why: between two refits (``fit_every`` steps) nothing the agent reads from the scientist
changes except two small pieces of state, the residual of the last one-step prediction and the
adaptive conformal (ACI) levels and scores. Everything else (the accepted law, its step method,
the trust, the gate) is fixed. :func:`freeze` copies that state out of a
:class:`~atom_sdk.science.scientist.Scientist` into a :class:`FrozenTheory` of fixed shapes, and
pure functions reproduce the scientist's numbers inside ``jit``/``vmap``/``lax.scan``:

* :func:`predict_next` -- ``Scientist.predict_next`` (mean and conformal interval),
* :func:`theory_features` -- ``Scientist.theory_features`` (same layout, clipping, dtype float32),
* :func:`observe` -- what ``Scientist.observe`` changes between refits (last residual, ACI level
  and scores), for one transition ``(x_t, u_t) -> x_{t+1}``; :func:`mark_boundary` -- the
  residual reset of ``Scientist.mark_boundary``,
* :func:`greedy_control` -- ``Scientist.greedy_control`` (grid + shrinking local search).

Fixed shapes: the coefficients run over the scientist's whole candidate library (zeros where a
term is not kept) and the ACI scores over its whole window (a ring buffer padded with ``+inf``),
so a newly accepted theory is new *values* in the same program, never a recompilation. Only the
sparse backend's theories (polynomial and trigonometric library terms) can be frozen; a
rational (``"implicit"``) or symbolic-regression theory raises ``ValueError``.

Precision: the arrays take the dtype given to :func:`freeze` (float32 by default, what a GPU
runs). The ACI level is kept as the integer counts it is a function of,
``alpha_t = alpha + gamma (alpha n_seen - n_miss)``, so it does not drift; the conformal rank
``ceil((n + 1)(1 - alpha_t))`` is taken with a slack of ``16 eps (n + 1)`` (numpy's is 1e-9),
which reproduces the float64 rank whenever ``(n + 1)(1 - alpha_t)`` is an integer or at least
that slack away from one (with the default alpha 0.1 and gamma 0.01 the fractional part is a
multiple of 1e-3, so always at n <= 500). The greedy controller breaks exact cost ties towards
the smallest control, as the numpy one does with its 1e-12 penalty, which float32 cannot hold, and
it compares costs less their control-free part, built from the step's increment, so float32
resolves a flat optimum far from the target; where float32 still cannot separate two candidates
the controls differ by the search's resolution at most, at equal cost (float64 freezes agree exactly).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from atom_sdk.science.theory import Theory

if TYPE_CHECKING:
    from atom_sdk.science.scientist import Scientist

__all__ = [
    "FrozenTheory",
    "freeze",
    "stack",
    "predict_next",
    "theory_features",
    "observe",
    "mark_boundary",
    "trusted",
    "greedy_control",
]

FEATURE_CLIP = 1e6  # Scientist.theory_features' clip


class FrozenTheory(struct.PyTreeNode):
    """What the theory features and the greedy controller depend on, between two refits.

    Leaves (arrays, in the freeze dtype unless said otherwise): ``coef (n_terms, n_vars)`` over the
    whole library (0 for a term no equation keeps), ``active (n_terms,)`` bool, the library's
    ``powers (n_poly, n_inputs)`` int32 and trig tables, ``dt``, ``has_theory`` bool, ``trust``,
    ``gate`` (the trust gate threshold), ``last_residual (n_vars,)``, the ACI ``alpha``, ``gamma``,
    ``n_seen`` int32, ``n_miss (n_vars,)`` int32, ``scores (window, n_vars)`` (``+inf`` = empty),
    ``n_scores`` and ``head`` int32 (the ring buffer's fill and next slot).
    Static (part of the compiled program): ``n_vars``, ``n_ctrl``, ``method``, ``max_power``.
    """

    coef: jax.Array
    active: jax.Array
    powers: jax.Array
    trig_index: jax.Array
    trig_freq: jax.Array
    trig_sin: jax.Array
    dt: jax.Array
    has_theory: jax.Array
    trust: jax.Array
    gate: jax.Array
    last_residual: jax.Array
    alpha: jax.Array
    gamma: jax.Array
    n_seen: jax.Array
    n_miss: jax.Array
    scores: jax.Array
    n_scores: jax.Array
    head: jax.Array
    n_vars: int = struct.field(pytree_node=False, default=1)
    n_ctrl: int = struct.field(pytree_node=False, default=0)
    method: str = struct.field(pytree_node=False, default="rk4")
    max_power: int = struct.field(pytree_node=False, default=0)

    @property
    def dtype(self) -> Any:
        return self.coef.dtype

    @property
    def window(self) -> int:
        return int(self.scores.shape[0])


# ----------------------------------------------------------------------------- freezing
def _library_tables(scientist: Scientist) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Powers of the polynomial terms and (index, frequency, is-sin) of the trig terms, in library
    order: all polynomial terms first, then the trig terms (how :class:`Library` builds them)."""
    lib = scientist.library
    kinds = [t.kind for t in lib.terms]
    n_poly = kinds.count("poly")
    if kinds != ["poly"] * n_poly + ["trig"] * (len(kinds) - n_poly):
        raise ValueError("the JAX theory needs a library of polynomial then trigonometric terms "
                         f"(no custom terms); this library has {sorted(set(kinds))}")
    poly = lib.terms[:n_poly]
    trig = lib.terms[n_poly:]
    powers = np.array([t.powers for t in poly], dtype=np.int32).reshape(n_poly, lib.n_inputs)
    index = np.array([t.input_index for t in trig], dtype=np.int32)
    freq = np.array([t.frequency for t in trig], dtype=float)
    is_sin = np.array([t.func == "sin" for t in trig], dtype=bool)
    return powers, index, freq, is_sin, lib.names


def _coefficients(theory: Theory | None, names: list[str], n_vars: int) -> tuple[np.ndarray, np.ndarray]:
    """``coef (n_terms, n_vars)`` and the active mask over the library, as ``Theory.refresh`` reads them."""
    coef = np.zeros((len(names), n_vars))
    active = np.zeros(len(names), dtype=bool)
    if theory is None:
        return coef, active
    if type(theory) is not Theory or theory.names != names:
        extra = sorted(set(theory.names) - set(names))
        raise ValueError(
            "only a theory over the scientist's own library (the 'sparse' backend) can run on the device; "
            f"this one has terms outside it ({extra[:5]}) -- keep backends=('sparse',) for a device loop")
    sup = theory.support_matrix().reshape(n_vars, len(names)).any(axis=0)
    coef[sup] = theory.coefficient_matrix().reshape(n_vars, len(names)).T[sup]
    return coef, sup


def freeze(scientist: Scientist, dtype: Any = jnp.float32) -> FrozenTheory:
    """The scientist's accepted theory and stream state as a :class:`FrozenTheory` (call after each refit).

    Before any accepted theory the result has ``has_theory=False`` and every function returns
    what the scientist does then (zero features, persistence, the zero control).
    """
    powers, trig_index, trig_freq, trig_sin, names = _library_tables(scientist)
    n = scientist.n_vars
    coef, active = _coefficients(scientist.theory, names, n)
    aci = scientist._aci
    window = int(aci.window)
    scores = np.full((window, n), np.inf)
    held = np.asarray(aci.scores, dtype=float).reshape(-1, n)[-window:]
    scores[: len(held)] = held
    f = jax.dtypes.canonicalize_dtype(dtype)  # float32 unless JAX's x64 mode is on
    i32 = np.int32
    host = FrozenTheory(
        coef=coef.astype(f), active=active, powers=powers, trig_index=trig_index, trig_freq=trig_freq.astype(f),
        trig_sin=trig_sin, dt=np.asarray(scientist.dt, f), has_theory=np.asarray(scientist.theory is not None),
        trust=np.asarray(scientist.trust, f), gate=np.asarray(scientist._trust_threshold, f),
        last_residual=np.asarray(scientist._last_residual, f),
        alpha=np.asarray(aci.alpha, f), gamma=np.asarray(aci.gamma, f),
        n_seen=np.asarray(aci.n_seen, i32), n_miss=np.rint(aci.n_miss).astype(i32),
        scores=scores.astype(f), n_scores=np.asarray(len(held), i32), head=np.asarray(len(held) % window, i32),
        n_vars=n, n_ctrl=scientist.n_ctrl, method=str(scientist._cfg["step_method"]),
        max_power=int(powers.max()) if powers.size else 0,
    )
    return jax.device_put(host)  # one transfer; jnp.asarray per leaf would compile per shape


def stack(frozen: Sequence[FrozenTheory]) -> FrozenTheory:
    """Many seeds' frozen theories as one, with a leading seed axis (for ``jax.vmap``)."""
    if not frozen:
        raise ValueError("stack needs at least one frozen theory")
    # stacked on the host: jnp.stack would compile one small program per leaf shape
    return jax.device_put(jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *frozen))


# ----------------------------------------------------------------------------- the law
def _features(ft: FrozenTheory, z: jax.Array) -> jax.Array:
    """Library terms at inputs ``z (n_inputs,)``, zeroed where the theory keeps none."""
    parts = []
    if ft.powers.shape[0]:
        table = [jnp.ones_like(z)]
        for _ in range(ft.max_power):
            table.append(table[-1] * z)
        table = jnp.stack(table, axis=-1)  # (n_inputs, max_power + 1)
        gathered = table[jnp.arange(z.shape[0])[None, :], ft.powers]  # (n_poly, n_inputs)
        parts.append(jnp.prod(gathered, axis=-1))
    if ft.trig_index.shape[0]:
        arg = ft.trig_freq * z[ft.trig_index]
        parts.append(jnp.where(ft.trig_sin, jnp.sin(arg), jnp.cos(arg)))
    theta = jnp.concatenate(parts) if parts else jnp.zeros((0,), z.dtype)
    return jnp.where(ft.active, theta, 0.0)


def _derivative(ft: FrozenTheory, x: jax.Array, u: jax.Array) -> jax.Array:
    z = jnp.concatenate([x, u]) if ft.n_ctrl else x
    return _features(ft, z) @ ft.coef


def _increment(ft: FrozenTheory, x: jax.Array, u: jax.Array) -> jax.Array:
    """``step(x, u) - x`` computed as the integrator's increment (no cancellation against ``x``);
    0 where the step is not finite (``Scientist._step`` keeps ``x`` then)."""
    dt = ft.dt
    if ft.method == "euler":
        inc = dt * _derivative(ft, x, u)
    else:
        k1 = _derivative(ft, x, u)
        k2 = _derivative(ft, x + 0.5 * dt * k1, u)
        k3 = _derivative(ft, x + 0.5 * dt * k2, u)
        k4 = _derivative(ft, x + dt * k3, u)
        inc = (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return jnp.where(jnp.isfinite(x + inc), inc, 0.0)


def _step(ft: FrozenTheory, x: jax.Array, u: jax.Array) -> jax.Array:
    """One step of the law with ``u`` held (``Scientist._step``: a non-finite result keeps ``x``)."""
    return x + _increment(ft, x, u)


def _xu(ft: FrozenTheory, x: Any, u: Any) -> tuple[jax.Array, jax.Array]:
    xa = jnp.reshape(jnp.asarray(x, ft.dtype), (ft.n_vars,))
    ua = jnp.reshape(jnp.asarray(u, ft.dtype), (ft.n_ctrl,))
    return xa, ua


# ----------------------------------------------------------------------------- conformal
def _level(ft: FrozenTheory) -> jax.Array:
    """The ACI level ``alpha_t`` per variable, from its counts (no accumulated rounding)."""
    return ft.alpha + ft.gamma * (ft.alpha * ft.n_seen.astype(ft.dtype) - ft.n_miss.astype(ft.dtype))


def _half_width(ft: FrozenTheory) -> jax.Array:
    """``AdaptiveConformal.half_width``: the ``1 - alpha_t`` conformal quantile of the held scores."""
    n = ft.n_scores
    a = _level(ft)
    nf = n.astype(ft.dtype)
    slack = jnp.maximum(1e-9, 16.0 * jnp.finfo(ft.dtype).eps * (nf + 1.0))
    k = jnp.ceil((nf + 1.0) * (1.0 - a) - slack).astype(jnp.int32)
    srt = jnp.sort(ft.scores, axis=0)  # empty slots are +inf: the n held scores come first
    idx = jnp.clip(k - 1, 0, jnp.maximum(n - 1, 0))
    q = jnp.take_along_axis(srt, idx[None, :], axis=0)[0]
    q = jnp.where(k < 1, 0.0, q)
    q = jnp.where((k > n) | (a <= 0.0), jnp.inf, q)
    return jnp.where(a >= 1.0, 0.0, q)


def predict_next(ft: FrozenTheory, x: Any, u: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(mean, lower, upper)`` of the next state: ``Scientist.predict_next`` (persistence and an
    infinite interval before any theory)."""
    xa, ua = _xu(ft, x, u)
    mean = jnp.where(ft.has_theory, _step(ft, xa, ua), xa)
    q = jnp.where(ft.has_theory, _half_width(ft), jnp.inf)
    return mean, mean - q, mean + q


def theory_features(ft: FrozenTheory, x: Any, u: Any) -> jax.Array:
    """``Scientist.theory_features``, float32 of size ``3 n_vars + 2``: predicted next state, last
    residual, conformal widths, trust, has-theory flag; zeros before a theory; clipped to +-1e6."""
    mean, lo, hi = predict_next(ft, x, u)
    out = jnp.concatenate([mean, ft.last_residual, hi - lo, jnp.stack([ft.trust, jnp.ones((), ft.dtype)])])
    out = jnp.where(ft.has_theory, out, 0.0)
    out = jnp.nan_to_num(out, nan=0.0, posinf=FEATURE_CLIP, neginf=-FEATURE_CLIP)
    return jnp.clip(out, -FEATURE_CLIP, FEATURE_CLIP).astype(jnp.float32)


def observe(ft: FrozenTheory, x: Any, u: Any, x_next: Any, valid: Any = True) -> FrozenTheory:
    """What ``Scientist.observe(x_next, .)`` changes after ``observe(x, u)``: the last residual
    ``x_next - step(x, u)`` and one ACI update (level and score). Nothing changes without a theory
    or where ``valid`` is False (the first observation of an episode: the transition crosses a
    boundary, as the scientist's segment check says)."""
    xa, ua = _xu(ft, x, u)
    y = jnp.reshape(jnp.asarray(x_next, ft.dtype), (ft.n_vars,))
    pred = _step(ft, xa, ua)
    score = jnp.abs(y - pred)
    miss = score > _half_width(ft)
    window = ft.window
    updated = ft.replace(
        last_residual=y - pred,
        n_seen=ft.n_seen + 1,
        n_miss=ft.n_miss + miss.astype(jnp.int32),
        scores=ft.scores.at[ft.head].set(score),
        n_scores=jnp.minimum(ft.n_scores + 1, window),
        head=(ft.head + 1) % window,
    )
    take = jnp.logical_and(ft.has_theory, jnp.asarray(valid, bool))
    return jax.tree.map(lambda new, old: jnp.where(take, new, old), updated, ft)


def mark_boundary(ft: FrozenTheory) -> FrozenTheory:
    """``Scientist.mark_boundary``: the last residual is reset to zero at an episode end."""
    return ft.replace(last_residual=jnp.zeros_like(ft.last_residual))


def trusted(ft: FrozenTheory) -> jax.Array:
    """Whether a theory is accepted and its trust reaches the gate threshold (bool scalar)."""
    return jnp.logical_and(ft.has_theory, ft.trust >= ft.gate)


# ----------------------------------------------------------------------------- the greedy controller
def _grid(m: int) -> np.ndarray:
    """``planning._grid`` on the unit box: ``(n_points, m)`` fractions of ``[low, high]``."""
    if m <= 3:
        g = {1: 21, 2: 9, 3: 5}[m]
        return np.array(list(itertools.product(np.linspace(0.0, 1.0, g), repeat=m)))
    from scipy.stats import qmc

    pts = [qmc.Halton(d=m, scramble=False).random(129)[1:], np.full((1, m), 0.5)]
    if 2**m <= 16:
        pts.append(np.array(list(itertools.product([0.0, 1.0], repeat=m))))
    return np.concatenate(pts)


def greedy_control(ft: FrozenTheory, x: Any, target: Any, weights: Any, low: Any, high: Any,
                   n_refine: int = 10) -> jax.Array:
    """``Scientist.greedy_control``: ``u`` in ``[low, high]`` minimising
    ``sum_i weights_i (x_hat_next_i(u) - target_i)^2`` by a deterministic grid (Halton beyond 3
    controls) and ``n_refine`` rounds of a shrinking local search; ``clip(0, low, high)`` without
    a theory, below the trust gate, without controls or when no candidate has a finite cost."""
    dtype = ft.dtype
    lo = jnp.reshape(jnp.asarray(low, dtype), (-1,))
    hi = jnp.reshape(jnp.asarray(high, dtype), (-1,))
    zero = jnp.clip(jnp.zeros_like(lo), lo, hi)
    m = ft.n_ctrl
    if m == 0 or lo.shape[0] != m:
        if lo.shape[0] != m:
            raise ValueError(f"low/high have {lo.shape[0]} entries, the theory has {m} controls")
        return zero
    xa = jnp.reshape(jnp.asarray(x, dtype), (ft.n_vars,))
    tgt = jnp.reshape(jnp.asarray(target, dtype), (-1,))
    w = jnp.reshape(jnp.asarray(weights, dtype), (-1,))
    span = jnp.where(hi > lo, hi - lo, 1.0)

    r0 = xa - tgt

    def cost(us: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The cost less its u-free part ``sum w (x - target)^2``: built from the step's increment,
        so float32 resolves it near the optimum even when ``x`` is far from the target."""
        inc = jax.vmap(lambda uu: _increment(ft, xa, uu))(us)
        c = jnp.sum(w * inc * (2.0 * r0 + inc), axis=-1)
        return jnp.where(jnp.isfinite(c), c, jnp.inf), jnp.sum((us / span) ** 2, axis=-1)

    def best_of(c: jax.Array, tie: jax.Array) -> jax.Array:
        """Index of the least cost, exact ties going to the smallest control."""
        return jnp.argmin(jnp.where(c == jnp.min(c), tie, jnp.inf))

    grid = lo + jnp.asarray(_grid(m), dtype) * (hi - lo)
    c, tie = cost(grid)
    i = best_of(c, tie)
    best, best_c, best_t = grid[i], c[i], tie[i]
    k = 5 if m <= 2 else 3
    if m <= 3:
        g = {1: 21, 2: 9, 3: 5}[m]
        step = (hi - lo) / (g - 1)
        offsets = np.array(list(itertools.product(np.linspace(-1.0, 1.0, k), repeat=m)))
        shrink = 2.0 / (k - 1)
    else:
        step = (hi - lo) / 4.0
        offsets = np.concatenate([np.eye(m), -np.eye(m)])
        shrink = 0.5
    offsets = jnp.asarray(offsets, dtype)

    def refine(_: int, carry: tuple[jax.Array, jax.Array, jax.Array, jax.Array]):
        best, best_c, best_t, step = carry
        cand = jnp.clip(best + offsets * step, lo, hi)
        cc, ct = cost(cand)
        j = best_of(cc, ct)
        better = (cc[j] < best_c) | ((cc[j] == best_c) & (ct[j] < best_t))
        best = jnp.where(better, cand[j], best)
        return best, jnp.where(better, cc[j], best_c), jnp.where(better, ct[j], best_t), step * shrink

    best, best_c, _, _ = jax.lax.fori_loop(0, n_refine, refine, (best, best_c, best_t, step))
    full = jnp.sum(w * (r0 + _increment(ft, xa, best)) ** 2)
    ok = trusted(ft) & jnp.isfinite(best_c) & jnp.isfinite(full)
    return jnp.where(ok, jnp.clip(best, lo, hi), zero)
