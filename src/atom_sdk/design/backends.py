"""Search backends with one ask/tell interface over the unit cube (minimisation).

``ask()`` returns a generation as an array (population, dim) in [0, 1]^dim; ``tell(points,
values)`` gives back one objective per point, ``inf`` for infeasible designs. Each backend
turns ``inf`` into what it needs (CMA-ES gets a finite penalty above the worst feasible value
so its ranking stays well defined), so infeasible designs are never scored as good.

Constraints (see ``ranking``): ``values`` is the *penalised* objective (weighted objective plus
penalty for violated diagnostic constraints), the one scalar a backend can always use. Backends
that select rather than rank continuously also get the raw ``objectives`` and ``violations`` and
apply Deb's feasibility-first rule to them (the evolutionary backend's elites). CMA-ES takes the
penalised scalar: its update uses only the order of a generation's values, and with the default
linear (exact) penalty and a weight above the constraint's Lagrange multiplier the penalised
minimiser is the constrained optimum, while Deb's rule on one generation would rank a barely
infeasible point below every feasible one however poor, pulling the mean away from an optimum on
the constraint boundary. The incumbent the search records (``best``) is chosen by Deb's rule.

Seeded: the same seed gives the same sequence of generations for the same told values.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from atom_sdk.errors import ConfigError

BACKENDS = ("cmaes", "evolutionary", "random")


class Backend(Protocol):
    name: str

    def ask(self) -> np.ndarray: ...

    def tell(self, points: np.ndarray, values: np.ndarray, objectives: np.ndarray | None = None,
             violations: np.ndarray | None = None) -> None: ...


def _penalised(values: np.ndarray, worst_seen: float) -> np.ndarray:
    """Replace inf/NaN by a finite value above every feasible value seen so far."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    finite = values[~bad]
    worst = max([worst_seen, *finite.tolist()]) if (finite.size or np.isfinite(worst_seen)) else 0.0
    penalty = worst + abs(worst) + 1.0
    return np.where(bad, penalty, values)


class RandomBackend:
    """Uniform sampling of the cube: the baseline every other backend must beat."""

    name = "random"

    def __init__(self, dim: int, population: int, seed: int) -> None:
        self.dim, self.population = dim, population
        self.rng = np.random.default_rng(seed)

    def ask(self) -> np.ndarray:
        return self.rng.uniform(0.0, 1.0, size=(self.population, self.dim))

    def tell(self, points: np.ndarray, values: np.ndarray, objectives: np.ndarray | None = None,
             violations: np.ndarray | None = None) -> None:
        del points, values, objectives, violations


class CMAESBackend:
    """CMA-ES (Hansen) from the ``cma`` package with box bounds [0, 1]; starts at the cube centre.

    sigma0 = 0.2 (a fifth of each normalised range, the usual CMA-ES advice for a box).
    """

    name = "cmaes"

    def __init__(self, dim: int, population: int, seed: int, sigma0: float = 0.2,
                 x0: np.ndarray | None = None) -> None:
        import cma

        self.dim, self.population = dim, population
        start = np.full(dim, 0.5) if x0 is None else np.clip(np.asarray(x0, dtype=np.float64), 0.0, 1.0)
        # cma samples from numpy's *global* generator by default, which anything else in the process can
        # advance (rollouts, plotting); a private generator keeps a seed's generations reproducible
        rng = np.random.default_rng(seed)
        options = {"bounds": [0.0, 1.0], "popsize": int(population), "seed": float("nan"), "verbose": -9,
                   "randn": lambda lam, n: rng.standard_normal((lam, n)),
                   "tolfun": 0.0, "tolx": 0.0, "tolfunhist": 0.0, "tolstagnation": 10**9}
        if dim == 1:
            # cma 4.x cannot rescale a one-coordinate sigma vector when it caps the std at a third of the
            # bound range (ValueError "not yet initialized"); in 1-D the box bounds alone suffice
            options["maxstd"] = float("inf")
        self.es = cma.CMAEvolutionStrategy(start.tolist(), sigma0, options)
        self._pending: list[np.ndarray] = []
        self._worst = -np.inf

    def ask(self) -> np.ndarray:
        self._pending = self.es.ask()
        return np.clip(np.asarray(self._pending, dtype=np.float64), 0.0, 1.0)

    def tell(self, points: np.ndarray, values: np.ndarray, objectives: np.ndarray | None = None,
             violations: np.ndarray | None = None) -> None:
        del points, objectives, violations  # the penalised values; the exact solutions cma produced
        vals = _penalised(values, self._worst)
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            self._worst = max(self._worst, float(finite.max()))
        self.es.tell(self._pending, vals.tolist())


class EvolutionaryBackend:
    """(mu + lambda)-style genetic search: top-k elites survive, children by crossover + mutation.

    Generation 0 is uniform; afterwards the ``elite`` best designs seen so far are kept (elitism;
    "best" by Deb's rule when ``objectives`` and ``violations`` are told, else by ``values``),
    the rest of the population are uniform crossovers of two elites chosen by tournament, plus a
    Gaussian mutation whose scale decays geometrically (``sigma * decay**generation``).
    """

    name = "evolutionary"

    def __init__(self, dim: int, population: int, seed: int, elite: int = 3, sigma: float = 0.2,
                 decay: float = 0.85, min_sigma: float = 0.01) -> None:
        self.dim, self.population = dim, population
        self.elite = max(1, min(int(elite), population))
        self.sigma, self.decay, self.min_sigma = sigma, decay, min_sigma
        self.rng = np.random.default_rng(seed)
        self.generation = 0
        self.archive_x = np.empty((0, dim))
        self.archive_f = np.empty(0)
        self.archive_v = np.empty(0)

    def ask(self) -> np.ndarray:
        if self.archive_f.size == 0 or not np.isfinite(self.archive_f).any():
            return self.rng.uniform(0.0, 1.0, size=(self.population, self.dim))
        # Deb: feasible (v = 0) by objective, then infeasible by violation, then failed (f = inf)
        feasible = self.archive_v == 0.0
        primary = np.where(np.isfinite(self.archive_f), np.where(feasible, 0, 1), 2)
        secondary = np.where(feasible, self.archive_f, self.archive_v)
        order = np.lexsort((secondary, primary))
        elites = self.archive_x[order[: self.elite]]
        sigma = max(self.min_sigma, self.sigma * self.decay**self.generation)
        children = []
        n_children = self.population - min(self.elite, 1)
        for _ in range(n_children):
            a, b = (elites[min(self.rng.integers(0, len(elites), 2))] for _ in range(2))
            mask = self.rng.random(self.dim) < 0.5
            child = np.where(mask, a, b) + sigma * self.rng.standard_normal(self.dim)
            children.append(np.clip(child, 0.0, 1.0))
        # re-evaluating the best elite costs one rollout but keeps the generation's best honest
        batch = [elites[0]] * min(self.elite, 1) + children
        return np.asarray(batch)

    def tell(self, points: np.ndarray, values: np.ndarray, objectives: np.ndarray | None = None,
             violations: np.ndarray | None = None) -> None:
        values = np.asarray(values if objectives is None else objectives, dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.inf)
        if violations is None or objectives is None:
            violations = np.zeros_like(values)
        violations = np.where(np.isfinite(values), np.asarray(violations, dtype=np.float64), np.inf)
        self.archive_x = np.vstack([self.archive_x, np.asarray(points)])
        self.archive_f = np.concatenate([self.archive_f, values])
        self.archive_v = np.concatenate([self.archive_v, violations])
        self.generation += 1


def make_backend(name: str, dim: int, population: int, seed: int, *, top_k: int = 3) -> Backend:
    """Build a backend by name; ``top_k`` sets the evolutionary backend's elite count."""
    if population < 2:
        raise ConfigError(f"population must be at least 2, got {population}")
    if name == "cmaes":
        return CMAESBackend(dim, population, seed)
    if name == "evolutionary":
        return EvolutionaryBackend(dim, population, seed, elite=top_k)
    if name == "random":
        return RandomBackend(dim, population, seed)
    raise ConfigError(f"unknown backend '{name}'; choose one of: {', '.join(BACKENDS)}")
