"""Flow fields to models: proper orthogonal decomposition (POD) of snapshot fields.

:class:`PODModes` turns snapshots ``(n_snapshots, *field_shape)`` into a mean field, spatial
modes ranked by energy, and temporal amplitudes (the method of snapshots, by an economy SVD
under a weighted inner product), and back again. With ``shift_mode=True`` it adds the shift
mode of the mean-field model (Noack et al., J. Fluid Mech. 497, 2003). The modal amplitudes
are the scientist's variables: :func:`discover_modes` fits a sparse law to them with
:func:`~atom_sdk.science.discover.discover` (Brunton, Proctor & Kutz, PNAS 113, 2016).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atom_sdk.errors import ConfigError
from atom_sdk.science.discover import discover
from atom_sdk.science.theory import Theory

__all__ = ["PODModes", "discover_modes"]

SHIFT_NAME = "a_shift"


def _finite(a: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ConfigError(
            f"{what} contain {bad} NaN or Inf value(s)",
            hint="drop or repair those snapshots (e.g. a diverged simulation) before fitting",
        )


class PODModes:
    """Proper orthogonal decomposition of snapshot fields, in scikit-learn's fit/transform shape.

    A field ``u`` is approximated as ``mean_ + sum_k a_k modes_[k]``; the modes are orthonormal
    under the weighted inner product ``<u, v> = sum_cells w u v`` (``w`` the cell areas or
    volumes given to :meth:`fit`; all ones by default), so ``a_k = <u - mean_, modes_[k]>`` and
    the energy ``sum_k a_k^2`` is the weighted squared norm of the fluctuation.

    Parameters
    ----------
    n_modes:
        Number of POD modes kept (default: all, i.e. ``min(n_snapshots, n_values)``).
    energy:
        Alternatively, keep the fewest modes whose cumulative energy fraction reaches this value
        in ``(0, 1]``; with ``n_modes`` too, ``n_modes`` is an upper bound.
    subtract_mean:
        Decompose the fluctuations about the snapshots' mean (``mean_``); ``False`` decomposes
        the raw snapshots (``mean_`` is then zero).
    shift_mode:
        Append the shift mode of the mean-field model (Noack et al. 2003) after the POD modes.
        It is built from what :meth:`fit` receives as ``base``: the base flow (the unstable
        steady solution, e.g. a symmetric steady run), or snapshots of the early transient
        still close to it, of which the mean is taken. The direction is
        ``mean_ - base``, Gram-Schmidt orthogonalised against the kept POD modes and
        normalised; the fit snapshots should be those of the limit cycle. Its amplitude (the
        last column of :meth:`transform`) is measured *from the base flow*: 0 at the base flow
        and ``shift_length_`` at the limit-cycle mean, so that the mean-field paraboloid reads
        ``a_shift = c (a1^2 + a2^2)``.

    Attributes
    ----------
    mean_: the mean field ``field_shape``.
    modes_: ``(n_components, *field_shape)``: the POD modes, then the shift mode if asked for.
    singular_values_: ``(n_modes,)`` of the weighted, centred snapshot matrix.
    energy_fraction_: ``(n_modes,)`` each kept mode's share of the total fluctuation energy.
    total_energy_: the sum of all squared singular values.
    amplitudes_: ``(n_snapshots, n_components)`` temporal amplitudes of the fit snapshots.
    shift_length_: weighted norm of the orthogonalised ``mean_ - base`` (``None`` without shift).
    """

    def __init__(
        self,
        n_modes: int | None = None,
        *,
        energy: float | None = None,
        subtract_mean: bool = True,
        shift_mode: bool = False,
    ) -> None:
        if n_modes is not None and (int(n_modes) != n_modes or n_modes < 1):
            raise ConfigError(f"n_modes must be a positive integer, got {n_modes!r}", hint="e.g. n_modes=2")
        if energy is not None and not 0.0 < float(energy) <= 1.0:
            raise ConfigError(f"energy must lie in (0, 1], got {energy!r}", hint="e.g. energy=0.99")
        self.n_modes = None if n_modes is None else int(n_modes)
        self.energy = None if energy is None else float(energy)
        self.subtract_mean = bool(subtract_mean)
        self.shift_mode = bool(shift_mode)

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "modes_"):
            raise ConfigError("this PODModes is not fitted yet", hint="call fit(snapshots) first")

    def _weights(self, weights: Any, field_shape: tuple[int, ...]) -> np.ndarray:
        if weights is None:
            return np.ones(int(np.prod(field_shape)))
        w = np.asarray(weights, dtype=float)
        if w.shape != field_shape[: w.ndim] or w.ndim == 0:
            raise ConfigError(
                f"weights have shape {w.shape}, the fields {field_shape}",
                hint="give one weight per cell: the field shape, or its leading (spatial) axes",
            )
        _finite(w, "weights")
        if np.any(w <= 0):
            raise ConfigError("weights must be positive", hint="pass cell areas or volumes (> 0)")
        w = w.reshape(w.shape + (1,) * (len(field_shape) - w.ndim))
        return np.broadcast_to(w, field_shape).reshape(-1).copy()

    def _flat(self, snapshots: Any, what: str = "snapshots") -> tuple[np.ndarray, bool]:
        """``(n, n_values)`` rows of the fitted field shape; ``True`` when one field was given."""
        x = np.asarray(snapshots, dtype=float)
        single = x.shape == self.field_shape_
        if single:
            x = x[None]
        if x.shape[1:] != self.field_shape_:
            raise ConfigError(
                f"{what} have shape {x.shape}, expected (n_snapshots, *{self.field_shape_})",
                hint="pass fields of the shape the modes were fitted on",
            )
        _finite(x, what)
        return x.reshape(x.shape[0], -1), single

    # ------------------------------------------------------------------ fit / transform
    def fit(self, snapshots: Any, *, weights: Any = None, base: Any = None) -> PODModes:
        """Fit the modes to ``snapshots (n_snapshots, *field_shape)``.

        ``weights``: positive weight per cell (the field shape, or its leading spatial axes for
        vector fields). ``base``: the base flow field (or snapshots of it, averaged) that the
        shift mode points away from; required with ``shift_mode=True``.
        """
        x = np.asarray(snapshots, dtype=float)
        if x.ndim < 2:
            raise ConfigError(
                f"snapshots must be (n_snapshots, *field_shape), got shape {x.shape}",
                hint="stack the fields along a first axis, one row per time",
            )
        n_snap = x.shape[0]
        self.field_shape_ = tuple(x.shape[1:])
        _finite(x, "snapshots")
        n_values = int(np.prod(self.field_shape_))
        if self.n_modes is not None and self.n_modes > min(n_snap, n_values):
            raise ConfigError(
                f"{self.n_modes} modes requested from {n_snap} snapshots of {n_values} values",
                hint=f"ask for at most {min(n_snap, n_values)} modes, or give more snapshots",
            )
        if self.shift_mode and base is None:
            raise ConfigError(
                "shift_mode=True needs the base flow",
                hint="pass fit(..., base=steady_field) or base=early_transient_snapshots",
            )
        w = self._weights(weights, self.field_shape_)
        flat = x.reshape(n_snap, -1)
        mean = flat.mean(axis=0) if self.subtract_mean else np.zeros(n_values)
        sw = np.sqrt(w)
        _, s, vt = np.linalg.svd((flat - mean) * sw, full_matrices=False)
        total = float(np.sum(s**2))
        frac = s**2 / total if total > 0 else np.zeros_like(s)
        r = s.size if self.n_modes is None else self.n_modes
        if self.energy is not None:
            r = min(r, int(np.searchsorted(np.cumsum(frac), self.energy - 1e-12) + 1))
        modes = vt[:r] / sw
        self.weights_ = w
        self.mean_ = mean.reshape(self.field_shape_)
        self.singular_values_ = s[:r]
        self.energy_fraction_ = frac[:r]
        self.total_energy_ = total
        self.n_modes_ = r
        self.shift_length_ = None
        if self.shift_mode:
            self._fit_shift(base, modes, mean, w)
            modes = np.vstack([modes, self._shift])
        self.modes_ = modes.reshape((-1,) + self.field_shape_)
        self._flat_modes = modes
        self.amplitudes_ = self.transform(x)
        return self

    def _fit_shift(self, base: Any, modes: np.ndarray, mean: np.ndarray, w: np.ndarray) -> None:
        b = np.asarray(base, dtype=float)
        if b.shape != self.field_shape_:
            if b.ndim == len(self.field_shape_) + 1 and b.shape[1:] == self.field_shape_ and b.shape[0] > 0:
                b = b.mean(axis=0)
            else:
                raise ConfigError(
                    f"base has shape {b.shape}; expected a field {self.field_shape_} or snapshots of it",
                    hint="pass the steady base flow, or the first snapshots of the transient",
                )
        _finite(b, "base")
        d = mean - b.reshape(-1)
        for phi in modes:  # Gram-Schmidt, twice for round-off
            d = d - np.sum(w * d * phi) * phi
        for phi in modes:
            d = d - np.sum(w * d * phi) * phi
        length = float(np.sqrt(np.sum(w * d * d)))
        scale = float(np.sqrt(np.sum(w * (mean - b.reshape(-1)) ** 2)))
        if length <= 1e-10 * max(scale, np.finfo(float).tiny) or length == 0.0:
            raise ConfigError(
                "the base flow differs from the snapshots' mean only within the oscillatory modes",
                hint="give the steady (unstable) base flow, or drop shift_mode",
            )
        self._shift = d / length
        self.shift_length_ = length
        self._base = b.reshape(-1)

    def refit_shift(self, base: Any) -> PODModes:
        """Point the shift mode away from another base flow (a field, or snapshots of it, averaged), keeping the
        POD modes: when a better estimate of the steady solution turns up after :meth:`fit` (the SVD is the
        costly part and does not depend on the base)."""
        self._check_fitted()
        if self.shift_length_ is None:
            raise ConfigError("this PODModes has no shift mode", hint="construct it with shift_mode=True")
        modes = self._flat_modes[: self.n_modes_]
        self._fit_shift(base, modes, self.mean_.reshape(-1), self.weights_)
        self._flat_modes = np.vstack([modes, self._shift])
        self.modes_ = self._flat_modes.reshape((-1,) + self.field_shape_)
        return self

    def fit_transform(self, snapshots: Any, **kw: Any) -> np.ndarray:
        return self.fit(snapshots, **kw).amplitudes_

    def transform(self, snapshots: Any) -> np.ndarray:
        """Amplitudes ``(n_snapshots, n_components)`` (or ``(n_components,)`` for one field)."""
        self._check_fitted()
        flat, single = self._flat(snapshots)
        w = self.weights_
        a = ((flat - self.mean_.reshape(-1)) * w) @ self._flat_modes[: self.n_modes_].T
        if self.shift_length_ is not None:
            a_s = ((flat - self._base) * w) @ self._shift
            a = np.column_stack([a, a_s])
        return a[0] if single else a

    def inverse_transform(self, amplitudes: Any) -> np.ndarray:
        """Fields ``(n, *field_shape)`` from amplitudes ``(n, n_components)`` (or one field)."""
        self._check_fitted()
        a = np.asarray(amplitudes, dtype=float)
        single = a.ndim == 1
        a = a[None] if single else a
        n_comp = self._flat_modes.shape[0]
        if a.ndim != 2 or a.shape[1] != n_comp:
            raise ConfigError(
                f"amplitudes have shape {np.shape(amplitudes)}, expected (n, {n_comp})",
                hint="pass what transform() returned (one column per mode, the shift mode last)",
            )
        _finite(a, "amplitudes")
        a = a.copy()
        if self.shift_length_ is not None:
            a[:, -1] -= self.shift_length_  # shift amplitude is measured from the base flow
        fields = self.mean_.reshape(-1) + a @ self._flat_modes
        fields = fields.reshape((-1,) + self.field_shape_)
        return fields[0] if single else fields

    @property
    def variable_names(self) -> list[str]:
        """Names of the amplitudes as the scientist's variables: ``a1, a2, ...`` then ``a_shift``."""
        self._check_fitted()
        names = [f"a{k + 1}" for k in range(self.n_modes_)]
        return names + [SHIFT_NAME] if self.shift_length_ is not None else names

    def __repr__(self) -> str:
        return (
            f"PODModes(n_modes={self.n_modes}, energy={self.energy}, "
            f"subtract_mean={self.subtract_mean}, shift_mode={self.shift_mode})"
        )


def discover_modes(
    pod: PODModes,
    snapshots: Any,
    t_or_dt: Any,
    u: Any = None,
    *,
    amplitude_scale: float | None = None,
    equivariant_pair: tuple[int, int] | None = None,
    **discover_kwargs: Any,
) -> Theory:
    """A sparse law ``da/dt = f(a, u)`` on the modal amplitudes of ``snapshots``.

    ``snapshots`` is one array ``(n, *field_shape)`` or a list of such arrays (several runs, e.g.
    transients started on and off the limit cycle); each is projected with the fitted ``pod``
    and handed to :func:`~atom_sdk.science.discover.discover` with ``t_or_dt`` and ``u``, under
    the names ``pod.variable_names``. ``amplitude_scale`` divides the amplitudes first (the law
    is then on ``a / scale``; by default none). Other keywords (``library``,
    ``differentiation``, ``optimizer``, ``seed``) go to ``discover``.

    ``equivariant_pair=(i, k)`` fits instead with :func:`~atom_sdk.science.equivariant.discover_so2`:
    the law commutes with rotations of modes ``i`` and ``k`` (a travelling-wave pair such as the two
    leading modes of a wake's limit cycle; the mean-field model of Noack et al. 2003 has this
    symmetry), in the coordinates ``a_i / sigma_i, a_k / sigma_k`` scaled by the pair's singular
    values, where the oscillation the POD was fitted on is a circle on average.
    """
    runs = snapshots if isinstance(snapshots, (list, tuple)) else [snapshots]
    scale = 1.0 if amplitude_scale is None else float(amplitude_scale)
    if not scale > 0:
        raise ConfigError(f"amplitude_scale must be positive, got {amplitude_scale!r}")
    amps = [np.atleast_2d(pod.transform(run)) / scale for run in runs]
    x: np.ndarray | list[np.ndarray] = amps if isinstance(snapshots, (list, tuple)) else amps[0]
    discover_kwargs.setdefault("variable_names", pod.variable_names)
    if equivariant_pair is None:
        return discover(x, t_or_dt, u, **discover_kwargs)
    from atom_sdk.science.equivariant import discover_so2

    if u is not None:
        raise ConfigError("the equivariant fit takes no controls", hint="drop u or equivariant_pair")
    i, k = (int(p) for p in equivariant_pair)
    if not (0 <= i < pod.n_modes_ and 0 <= k < pod.n_modes_ and i != k):
        raise ConfigError(f"equivariant_pair must name two different POD modes below {pod.n_modes_}, "
                          f"got {equivariant_pair!r}", hint="e.g. (0, 1) for the two leading modes")
    sv = pod.singular_values_[[i, k]]
    return discover_so2(x, t_or_dt, pair=(i, k), scales=(float(sv[0] / sv.mean()), float(sv[1] / sv.mean())),
                        **discover_kwargs)

