"""The Taylor–Green validation rows say what their number is: the decay rate -dlnE/dt in 1/T (positive), A in L/T."""

from __future__ import annotations

import pytest

from atom_sdk.worlds.taylor_green import _energy_decay_case, _forced_amplitude_case


def test_energy_decay_rows_are_positive_rates_in_inverse_time() -> None:
    rows = _energy_decay_case()
    assert [r.quantity for r in rows] == ["-dlnE/dt", "-dlnE/dt"]
    assert [r.unit for r in rows] == ["1/T", "1/T"]
    # 2ν|k|² with |k|² = 2k²: nu=0.01, k=1 -> 0.04; nu=0.05, k=2 -> 0.8 (Taylor & Green 1937)
    assert [r.reference for r in rows] == pytest.approx([0.04, 0.8])
    for row in rows:
        assert row.measured > 0 and row.measured == pytest.approx(row.reference, rel=0.01)


def test_forced_amplitude_row_has_the_amplitude_unit() -> None:
    (row,) = _forced_amplitude_case()
    assert (row.quantity, row.unit) == ("A(t=5)", "L/T")
    assert row.passed
