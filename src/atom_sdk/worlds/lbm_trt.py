"""TRT (and BGK) collision for any lattice, written once over its velocity and weight tables.

Why one function: the D3Q19 reference kernel and the fused kernels of every lattice collide the
same way (Ginzburg's two-relaxation-time split into the even and odd parts of each opposite
pair, Krueger et al. 2017, sec. 10.7); only the tables differ. The populations come as a
sequence of per-direction arrays so that the fused XLA program can keep them apart (structure
of arrays) and the reference can stack them. The 2D reference in ``lbm`` keeps its own unrolled
copy, whose bit-exact results the recorded benchmarks depend on.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax


def opposites(c: Sequence[Sequence[int]]) -> list[int]:
    """Index of the opposite velocity of each direction."""
    rows = [tuple(ci) for ci in c]
    return [rows.index(tuple(-v for v in ci)) for ci in rows]


def collide_trt(fs: Sequence[jax.Array], c: Sequence[Sequence[int]], w: Sequence[float], om_p: float,
                om_m: float) -> tuple[jax.Array, ...]:
    """Post-collision populations: TRT with rates (om_p, om_m); BGK when om_m == om_p."""
    q = len(fs)
    dim = len(c[0])
    rho = sum(fs)
    inv = 1.0 / rho
    u = [sum(c[i][a] * fs[i] for i in range(q) if c[i][a]) * inv for a in range(dim)]
    usq = 1.5 * sum(ua * ua for ua in u)
    opp = opposites(c)
    out: list[jax.Array] = list(fs)
    out[0] = fs[0] - om_p * (fs[0] - w[0] * rho * (1.0 - usq))
    for i in range(1, q):
        b = opp[i]
        if b < i:
            continue
        cu = 3.0 * sum(c[i][a] * u[a] for a in range(dim) if c[i][a])
        even_eq = w[i] * rho * (1.0 + 0.5 * cu * cu - usq)
        odd_eq = w[i] * rho * cu
        even = 0.5 * (fs[i] + fs[b])
        odd = 0.5 * (fs[i] - fs[b])
        even = even - om_p * (even - even_eq)
        odd = odd - om_m * (odd - odd_eq)
        out[i], out[b] = even + odd, even - odd
    return tuple(out)
