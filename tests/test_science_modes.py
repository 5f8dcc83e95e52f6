"""Flow fields to models: POD of snapshot fields, the shift mode, and a sparse law on the amplitudes.

Why: the cylinder-wake reproduction (Brunton, Proctor & Kutz 2016) stands on these steps; each is
checked here against an exact answer (travelling waves, Eckart-Young, a mean-field Hopf system).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atom_sdk.errors import ConfigError
from atom_sdk.science import PODModes, discover_modes

N_X, N_T = 128, 64
X = np.arange(N_X) * 2 * np.pi / N_X
T = np.arange(N_T) * 2 * np.pi / N_T  # one whole period of omega = 1


def waves(weak: float = 0.0) -> np.ndarray:
    """``sin(x - t)`` plus ``weak * sin(3x - 2t)``, sampled over whole periods: ``(N_T, N_X)``."""
    return np.sin(X[None] - T[:, None]) + weak * np.sin(3 * X[None] - 2 * T[:, None])


def test_travelling_wave_has_two_equal_modes_in_quadrature() -> None:
    pod = PODModes(n_modes=2).fit(waves())
    np.testing.assert_allclose(pod.energy_fraction_, [0.5, 0.5], atol=1e-10)
    np.testing.assert_allclose(pod.mean_, 0.0, atol=1e-12)
    # the two modes span {sin x, cos x}
    basis = np.stack([np.sin(X), np.cos(X)])
    q, _ = np.linalg.qr(basis.T)
    residual = pod.modes_ - (pod.modes_ @ q) @ q.T
    assert np.abs(residual).max() < 1e-12
    # amplitudes: equal and 90 degrees apart (a quarter period is N_T/4 samples)
    a1, a2 = pod.amplitudes_.T
    quarter = np.roll(a1, N_T // 4)
    assert min(np.abs(quarter - a2).max(), np.abs(quarter + a2).max()) < 1e-10 * np.abs(a1).max()
    np.testing.assert_allclose(a1**2 + a2**2, np.mean(a1**2 + a2**2), rtol=1e-10)


def test_two_waves_give_four_modes_with_analytical_energies() -> None:
    weak = 0.3
    snaps = waves(weak)
    pod = PODModes().fit(snaps)
    strong_share = 1.0 / (1.0 + weak**2)
    np.testing.assert_allclose(pod.energy_fraction_[:4], [strong_share / 2] * 2 + [(1 - strong_share) / 2] * 2,
                               atol=1e-10)
    assert pod.energy_fraction_[4:].sum() < 1e-20
    # all modes: reconstruction at round-off
    err = np.abs(pod.inverse_transform(pod.transform(snaps)) - snaps).max()
    assert err < 1e-12
    # energy=0.9 keeps the strong pair only
    assert PODModes(energy=0.9).fit(snaps).n_modes_ == 2


@pytest.mark.parametrize("r", [1, 2, 3])
def test_truncation_error_is_the_discarded_energy(r: int) -> None:
    rng = np.random.default_rng(0)
    snaps = waves(0.3) + 0.05 * rng.standard_normal((N_T, N_X))
    full = PODModes().fit(snaps)
    pod = PODModes(n_modes=r).fit(snaps)
    err = np.sum((pod.inverse_transform(pod.transform(snaps)) - snaps) ** 2)
    discarded = np.sum(full.singular_values_[r:] ** 2)
    assert err == pytest.approx(discarded, rel=1e-10)
    assert 1.0 - pod.energy_fraction_.sum() == pytest.approx(discarded / full.total_energy_, rel=1e-10)


def test_weights_define_the_inner_product() -> None:
    """Splitting a cell into two copies of half its weight changes nothing."""
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 2 * np.pi, 40))
    w = np.gradient(x) + 0.01  # non-uniform cell widths
    snaps = np.sin(x[None] - T[:, None]) + 0.2 * np.cos(2 * x[None] + 3 * T[:, None])
    pod = PODModes(n_modes=4).fit(snaps, weights=w)
    gram = (pod.modes_ * w) @ pod.modes_.T
    np.testing.assert_allclose(gram, np.eye(4), atol=1e-12)
    fluct = snaps - pod.mean_
    np.testing.assert_allclose(pod.amplitudes_, (fluct * w) @ pod.modes_.T, atol=1e-12)
    assert np.sum(fluct**2 * w) == pytest.approx(pod.total_energy_, rel=1e-12)

    split = np.concatenate([snaps, snaps[:, :10]], axis=1)
    w_split = np.concatenate([w, w[:10] / 2])
    w_split[:10] /= 2
    twin = PODModes(n_modes=4).fit(split, weights=w_split)
    np.testing.assert_allclose(twin.singular_values_, pod.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(twin.amplitudes_), np.abs(pod.amplitudes_), atol=1e-10)
    # unweighted, the duplicated cells would count twice
    assert not np.allclose(PODModes(n_modes=4).fit(split).singular_values_, pod.singular_values_, rtol=1e-3)


def test_vector_fields_take_per_cell_weights() -> None:
    snaps = np.stack([waves(), np.roll(waves(), 3, axis=1)], axis=-1)  # (N_T, N_X, 2)
    pod = PODModes(n_modes=2).fit(snaps, weights=np.full(N_X, 2 * np.pi / N_X))
    assert pod.modes_.shape == (2, N_X, 2)
    np.testing.assert_allclose(pod.energy_fraction_, [0.5, 0.5], atol=1e-10)


# ---------------------------------------------------------------- mean-field model (Noack et al. 2003)
MU, OMEGA, A, LAM = 0.1, 1.0, -0.1, 1.0  # limit cycle: r^2 = -MU/A = 1, a_shift = r^2 on the paraboloid
W = np.full(N_X, 2 * np.pi / N_X / np.pi)  # sin x, cos x and sin 2x have unit norm
BASE = 1.0 + 0.5 * np.cos(3 * X)


def mean_field(t: float, a: np.ndarray) -> list[float]:
    x, y, z = a
    return [MU * x - OMEGA * y + A * x * z, OMEGA * x + MU * y + A * y * z, -LAM * (z - x**2 - y**2)]


def run(a0: list[float], t_end: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, t_end, dt)
    sol = solve_ivp(mean_field, (0, t[-1]), a0, t_eval=t, rtol=1e-10, atol=1e-12, method="DOP853")
    return t, sol.y.T


def fields(a: np.ndarray) -> np.ndarray:
    modes = np.stack([np.sin(X), np.cos(X), np.sin(2 * X)])
    return BASE + a @ modes


@pytest.fixture(scope="module")
def cycle_pod() -> PODModes:
    _, a = run([1.0, 0.0, 1.0], 4 * np.pi, 2 * np.pi / 50)  # two periods on the limit cycle
    return PODModes(n_modes=2, shift_mode=True).fit(fields(a), weights=W, base=BASE)


def test_shift_mode_is_orthogonal_and_measured_from_the_base_flow(cycle_pod: PODModes) -> None:
    pod = cycle_pod
    gram = (pod.modes_ * W) @ pod.modes_.T
    np.testing.assert_allclose(gram, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(pod.modes_[2], np.sin(2 * X), atol=1e-10)
    assert pod.shift_length_ == pytest.approx(1.0, rel=1e-10)  # limit-cycle mean sits at a_shift = r^2 = 1
    np.testing.assert_allclose(pod.transform(BASE), 0.0, atol=1e-9)  # integration tolerance
    assert pod.variable_names == ["a1", "a2", "a_shift"]
    # reconstruction round-trips through the base-flow origin of the shift amplitude
    a = np.array([[0.3, -0.2, 0.4]])
    np.testing.assert_allclose(pod.transform(pod.inverse_transform(a)), a, atol=1e-12)
    # the base may be given as early-transient snapshots (their mean)
    _, a_lc = run([1.0, 0.0, 1.0], 4 * np.pi, 2 * np.pi / 50)
    twin = PODModes(n_modes=2, shift_mode=True).fit(fields(a_lc), weights=W, base=np.stack([BASE - 0.1, BASE + 0.1]))
    np.testing.assert_allclose(twin.modes_[2], pod.modes_[2], atol=1e-10)


def test_refit_shift_equals_a_fit_from_that_base(cycle_pod: PODModes) -> None:
    import copy

    _, a = run([1.0, 0.0, 1.0], 4 * np.pi, 2 * np.pi / 50)
    other = BASE - 0.3 * np.sin(2 * X) + 0.1 * np.cos(5 * X)
    fresh = PODModes(n_modes=2, shift_mode=True).fit(fields(a), weights=W, base=other)
    moved = copy.deepcopy(cycle_pod).refit_shift(other)
    np.testing.assert_allclose(moved.modes_, fresh.modes_, atol=1e-12)
    assert moved.shift_length_ == pytest.approx(fresh.shift_length_, rel=1e-12)
    np.testing.assert_allclose(moved.transform(fields(a)), fresh.transform(fields(a)), atol=1e-12)
    assert not np.allclose(moved.transform(BASE), cycle_pod.transform(BASE))  # the origin did move
    with pytest.raises(ConfigError, match="no shift mode"):
        PODModes(n_modes=2).fit(fields(a)).refit_shift(BASE)


def test_gram_schmidt_removes_oscillatory_content_from_the_shift(cycle_pod: PODModes) -> None:
    tilted = BASE + 0.3 * np.sin(X)  # a base flow with a component along an oscillatory mode
    _, a = run([1.0, 0.0, 1.0], 4 * np.pi, 2 * np.pi / 50)
    pod = PODModes(n_modes=2, shift_mode=True).fit(fields(a), weights=W, base=tilted)
    np.testing.assert_allclose((pod.modes_[:2] * W) @ pod.modes_[2], 0.0, atol=1e-12)
    np.testing.assert_allclose(pod.modes_[2], np.sin(2 * X), atol=1e-10)


def test_amplitudes_to_discover_recover_the_mean_field_model(cycle_pod: PODModes) -> None:
    dt = 0.02
    runs = [fields(run(a0, 60.0, dt)[1]) for a0 in ([0.05, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.5, 2.0])]
    theory = discover_modes(cycle_pod, runs, dt)
    support = {eq.target: set(eq.active_terms) for eq in theory.equations}
    assert support == {
        "a1": {"a1", "a2", "a1*a_shift"},
        "a2": {"a1", "a2", "a2*a_shift"},
        "a_shift": {"a_shift", "a1^2", "a2^2"},
    }, str(theory)
    coef = {eq.target: dict(zip(eq.terms, eq.coefficients)) for eq in theory.equations}
    for target in ("a1", "a2"):
        assert coef[target][target] == pytest.approx(MU, rel=0.05)
        assert coef[target][f"{target}*a_shift"] == pytest.approx(A, rel=0.05)
    assert abs(coef["a1"]["a2"]) == pytest.approx(OMEGA, rel=0.02)
    assert coef["a_shift"]["a_shift"] == pytest.approx(-LAM, rel=0.05)
    assert coef["a_shift"]["a1^2"] == pytest.approx(LAM, rel=0.05)


def test_equivariant_pair_ties_the_oscillator_equations(cycle_pod: PODModes) -> None:
    """With ``equivariant_pair`` the two POD amplitudes share one growth rate and one frequency (the
    mean-field model's SO(2) symmetry); on a circular cycle the expanded law is the exact model."""
    dt = 0.02
    runs = [fields(run(a0, 60.0, dt)[1]) for a0 in ([0.05, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.5, 2.0])]
    theory = discover_modes(cycle_pod, runs, dt, equivariant_pair=(0, 1))
    coef = {eq.target: dict(zip(eq.active_terms, eq.active_coefficients)) for eq in theory.equations}
    assert {k: set(v) for k, v in coef.items()} == {
        "a1": {"a1", "a2", "a1*a_shift"}, "a2": {"a1", "a2", "a2*a_shift"}, "a_shift": {"a_shift", "a1^2", "a2^2"}}
    assert coef["a1"]["a1"] == coef["a2"]["a2"] == pytest.approx(MU, rel=0.01)
    assert coef["a1"]["a1*a_shift"] == coef["a2"]["a2*a_shift"] == pytest.approx(A, rel=0.01)
    assert coef["a1"]["a2"] == pytest.approx(-coef["a2"]["a1"], rel=1e-6)  # equal singular values: a circle
    assert coef["a_shift"]["a_shift"] == pytest.approx(-LAM, rel=0.01)
    assert theory.metadata["equivariance"]["consistent"]
    with pytest.raises(ConfigError, match="two different POD modes"):
        discover_modes(cycle_pod, runs, dt, equivariant_pair=(0, 2))


# ---------------------------------------------------------------- bad input says what to change
def test_bad_input_raises_config_errors_with_a_hint() -> None:
    snaps = waves()
    nan = snaps.copy()
    nan[3, 5] = np.nan
    cases = [
        (lambda: PODModes().fit(nan), "NaN"),
        (lambda: PODModes(n_modes=N_T + 1).fit(snaps), "snapshots"),
        (lambda: PODModes(n_modes=2).fit(snaps).transform(snaps[:, :10]), "shape"),
        (lambda: PODModes(n_modes=2).fit(snaps).inverse_transform(np.zeros((3, 5))), "amplitudes"),
        (lambda: PODModes(n_modes=2).fit(snaps, weights=np.ones(5)), "weights"),
        (lambda: PODModes(n_modes=2).fit(snaps, weights=-np.ones(N_X)), "positive"),
        (lambda: PODModes(shift_mode=True).fit(snaps), "base"),
        (lambda: PODModes(n_modes=0), "n_modes"),
        (lambda: PODModes(energy=1.5), "energy"),
        (lambda: PODModes().transform(snaps), "fit"),
        (lambda: PODModes().fit(snaps[0]), "n_snapshots"),
    ]
    for make, word in cases:
        with pytest.raises(ConfigError, match=word) as info:
            make()
        assert info.value.hint, f"{info.value} says nothing about what to change"
