"""Gradient saliency and input importance of the actor-critic, as pure JAX functions.

Why here: what the agent attends to is a property of its network alone, so the maps are
functions of ``(agent state, inputs)`` like ``ppo.act``; the experiment layer decides which
observation to explain and writes the artifacts.

Inputs are one observation as the agent sees it, ``{"fields": (C, nx, ny, nz), "vector": (d,)}``
(either key may be absent), with no batch axis. The explained outputs are

* ``action``: the action the policy takes deterministically (the squashed or clipped policy
  mean, in the world's bounds; for a discrete policy, the action probabilities),
* ``value``: the critic's V,
* ``latent``: the encoder's latent vector (only with fields).

A saliency map sums the absolute Jacobian over an output's components,
``S(x) = sum_k |d out_k / d x|``, so one map per output has the shape of the field.
SmoothGrad (Smilkov et al. 2017) averages that map over noisy copies of the field;
integrated gradients (Sundararajan et al. 2017) attribute ``f(x) - f(baseline)`` to the inputs
along the straight path. For the vector input, gradient x input and permutation importance
(Breiman 2001, over a batch) rank the features by their effect on the action.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp

from atom_sdk.agent import networks as N
from atom_sdk.errors import ConfigError

__all__ = ["OUTPUTS", "gradient_x_input", "integrated_gradients", "maps_from_jacobians", "output_jacobians",
           "permutation_importance", "policy_outputs", "saliency_maps", "smoothgrad"]

#: the outputs a saliency map explains
OUTPUTS = ("action", "value", "latent")


def _split(inputs: Mapping[str, Any]) -> tuple[jnp.ndarray | None, jnp.ndarray | None]:
    fields = inputs.get("fields")
    vector = inputs.get("vector")
    fields = None if fields is None else jnp.asarray(fields, jnp.float32)
    vector = None if vector is None else jnp.asarray(vector, jnp.float32)
    if fields is None and vector is None:
        raise ConfigError("inputs need a 'fields' or a 'vector' entry", hint="pass one observation as the agent sees it")
    return fields, vector


def _hidden(inputs: Mapping[str, Any]) -> jnp.ndarray | None:
    """The recurrent core's hidden state the observation was acted on from (``inputs["hidden"]``), if any."""
    hidden = inputs.get("hidden")
    return None if hidden is None else jnp.asarray(hidden, jnp.float32)


def _join(fields: jnp.ndarray | None, vector: jnp.ndarray | None,
          hidden: jnp.ndarray | None = None) -> dict[str, jnp.ndarray]:
    return {k: v for k, v in (("fields", fields), ("vector", vector), ("hidden", hidden)) if v is not None}


def policy_outputs(agent_state: Any, inputs: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    """The explained outputs for (possibly batched) inputs: action, value and, with fields, latent.

    ``inputs["hidden"]``, when given, is a recurrent core's state before the step (zeros otherwise);
    the maps hold it fixed, so they explain the current observation, not the memory.
    """
    spec = agent_state.spec
    hidden = _hidden(inputs)
    args = () if hidden is None else (hidden,)  # a recurrent core steps once from the given state
    pi, value, latent = spec.network.apply(agent_state.params["net"], _join(*_split(inputs)), *args)
    if spec.action.discrete:
        action = jax.nn.softmax(pi["logits"], axis=-1)
    else:  # the deterministic branch ignores the key
        action = N.sample(pi, spec.action, spec.settings.action_squash, jax.random.PRNGKey(0), True)
    out = {"action": action, "value": value}
    if latent is not None:
        out["latent"] = latent
    return out


@jax.jit
def output_jacobians(agent_state: Any, inputs: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    """Jacobians of one observation's outputs, keyed ``"<output>/<input>"``.

    ``action/fields`` is (A, C, nx, ny, nz), ``value/fields`` (C, nx, ny, nz), ``latent/fields``
    (L, C, nx, ny, nz); ``action/vector`` (A, d) and ``value/vector`` (d,). Keys whose input is
    absent are left out (no ``latent`` without fields).
    """
    fields, vector = _split(inputs)
    hidden = _hidden(inputs)
    out: dict[str, jnp.ndarray] = {}
    if fields is not None:
        jac = jax.jacrev(lambda f: policy_outputs(agent_state, _join(f, vector, hidden)))(fields)
        out.update({f"{k}/fields": v for k, v in jac.items()})
    if vector is not None:
        jac = jax.jacrev(lambda v: policy_outputs(agent_state, _join(fields, v, hidden)))(vector)
        out.update({f"{k}/vector": jac[k] for k in ("action", "value")})
    return out


def maps_from_jacobians(jacobians: Mapping[str, Any], field_ndim: int = 4) -> dict[str, jnp.ndarray]:
    """The saliency maps from :func:`output_jacobians`' field Jacobians: sum_k |d out_k / d field|.

    Why a function of its own: a caller that keeps the Jacobians gets the maps without a
    second compiled program.
    """
    out = {}
    for name in OUTPUTS:
        jac = jnp.asarray(jacobians[f"{name}/fields"])
        lead = tuple(range(jac.ndim - field_ndim))
        out[name] = jnp.sum(jnp.abs(jac), axis=lead) if lead else jnp.abs(jac)
    return out


@jax.jit
def saliency_maps(agent_state: Any, inputs: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    """``{"action", "value", "latent"}`` maps of the field's shape: sum_k |d out_k / d field|."""
    fields, _ = _split(inputs)
    if fields is None:
        raise ConfigError("saliency over the field needs a 'fields' input; this agent sees no fields",
                          hint="use gradient_x_input or permutation_importance for the vector features")
    return maps_from_jacobians(output_jacobians(agent_state, inputs), fields.ndim)


def smoothgrad(agent_state: Any, inputs: Mapping[str, Any], key: jax.Array, *, samples: int = 16,
               noise: float = 0.15) -> dict[str, jnp.ndarray]:
    """Saliency maps averaged over ``samples`` copies of the field with Gaussian noise.

    The noise's standard deviation is ``noise`` times each channel's range (max - min), the
    10-20 % that Smilkov et al. (2017) found to sharpen maps; a constant channel gets none.
    """
    if samples < 1 or not noise >= 0.0:
        raise ConfigError(f"smoothgrad needs samples >= 1 and noise >= 0, got samples={samples}, noise={noise}")
    return _smoothgrad(agent_state, dict(inputs), key, int(samples), float(noise))


@jax.jit(static_argnames=("samples",))
def _smoothgrad(agent_state: Any, inputs: dict, key: jax.Array, samples: int, noise: float):
    fields, vector = _split(inputs)
    if fields is None:
        raise ConfigError("smoothgrad needs a 'fields' input; this agent sees no fields")
    axes = tuple(range(1, fields.ndim))
    span = (jnp.max(fields, axis=axes, keepdims=True) - jnp.min(fields, axis=axes, keepdims=True)) * noise

    def one(k: jax.Array) -> dict[str, jnp.ndarray]:
        noisy = fields + span * jax.random.normal(k, fields.shape, fields.dtype)
        return saliency_maps(agent_state, _join(noisy, vector, _hidden(inputs)))

    maps = jax.lax.map(one, jax.random.split(key, samples))
    return {k: v.mean(axis=0) for k, v in maps.items()}


def _parse_target(target: str) -> tuple[str, int]:
    name, _, index = str(target).partition(":")
    if name not in OUTPUTS or (index and not index.isdigit()):
        raise ConfigError(f"unknown target {target!r}", hint=f"use one of {OUTPUTS}, optionally with ':<component>'")
    return name, int(index or 0)


def integrated_gradients(agent_state: Any, inputs: Mapping[str, Any], *, targets: Sequence[str] = ("value",),
                         baseline: Any = None, steps: int = 32) -> dict[str, tuple[jnp.ndarray, jnp.ndarray]]:
    """Integrated gradients over the field of scalar outputs: ``{target: (attribution, f(x) - f(baseline))}``.

    A target is ``value``, ``action:<k>`` or ``latent:<k>`` (component ``k``, 0 when left out).
    The path integral is the midpoint rule with ``steps`` points from ``baseline`` (zeros by
    default) to the field, so ``attribution.sum()`` approaches ``f(x) - f(baseline)``
    (completeness) as ``steps`` grows; their gap is the check of the quadrature. All targets
    share one compiled program.
    """
    parsed = tuple(_parse_target(t) for t in targets)
    if not parsed:
        raise ConfigError("integrated_gradients needs at least one target")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    fields, vector = _split(inputs)
    if fields is None:
        raise ConfigError("integrated gradients over the field need a 'fields' input")
    base = jnp.zeros_like(fields) if baseline is None else jnp.broadcast_to(jnp.asarray(baseline, jnp.float32),
                                                                            fields.shape)
    attr, delta = _integrated(agent_state, fields, vector, _hidden(inputs), base, parsed, int(steps))
    return {t: (attr[i], delta[i]) for i, t in enumerate(targets)}


@jax.jit(static_argnames=("targets", "steps"))
def _integrated(agent_state, fields, vector, hidden, base, targets: tuple[tuple[str, int], ...], steps: int):
    def scalars(f: jnp.ndarray) -> jnp.ndarray:
        out = policy_outputs(agent_state, _join(f, vector, hidden))
        return jnp.stack([out[name] if out[name].ndim == 0 else out[name][index] for name, index in targets])

    jac = jax.jacrev(scalars)
    alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
    mean_jac = jax.lax.map(lambda a: jac(base + a * (fields - base)), alphas).mean(axis=0)
    return (fields - base) * mean_jac, scalars(fields) - scalars(base)


@jax.jit
def gradient_x_input(agent_state: Any, inputs: Mapping[str, Any]) -> jnp.ndarray:
    """Per vector feature, sum_k |d action_k / d v_i * v_i|: shape (d,), or (batch, d) for batched inputs.

    A feature the policy ignores, or one that is zero in the observation, scores 0.
    """
    fields, vector = _split(inputs)
    if vector is None:
        raise ConfigError("gradient x input needs a 'vector' input")

    def one(rest: dict, v: jnp.ndarray) -> jnp.ndarray:
        jac = jax.jacrev(lambda w: policy_outputs(agent_state, {**rest, "vector": w})["action"])(v)
        return jnp.sum(jnp.abs(jac.reshape((-1, v.shape[-1])) * v), axis=0)

    rest = _join(fields, None, _hidden(inputs))
    return one(rest, vector) if vector.ndim == 1 else jax.vmap(one)(rest, vector)


def permutation_importance(agent_state: Any, batch: Mapping[str, Any], key: jax.Array, *,
                           repeats: int = 8) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Permutation importance of each vector feature for the action over a batch of observations.

    For feature ``i`` its column is shuffled across the batch (the fields and the other
    features stay), and the score is the mean over the batch of ``|a(shuffled) - a(x)|``
    (summed over action components); returns the mean and the standard deviation over
    ``repeats`` shuffles, shape (d,) each. A feature the policy ignores scores exactly 0.
    """
    fields, vector = _split(batch)
    if vector is None or vector.ndim != 2 or vector.shape[0] < 2:
        raise ConfigError("permutation importance needs a batch of at least 2 observations with a 'vector' input "
                          f"of shape (batch, d); got {None if vector is None else tuple(vector.shape)}")
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    return _permutation(agent_state, fields, vector, _hidden(batch), key, int(repeats))


@jax.jit(static_argnames=("repeats",))
def _permutation(agent_state, fields, vector, hidden, key, repeats: int):
    n, d = vector.shape
    ref = policy_outputs(agent_state, _join(fields, vector, hidden))["action"].reshape((n, -1))

    def score(column: jnp.ndarray, k: jax.Array) -> jnp.ndarray:
        perm = jax.random.permutation(k, n)
        shuffled = vector.at[:, column].set(vector[perm, column])
        act = policy_outputs(agent_state, _join(fields, shuffled, hidden))["action"].reshape((n, -1))
        return jnp.mean(jnp.sum(jnp.abs(act - ref), axis=-1))

    keys = jax.random.split(key, repeats)
    scores = jax.lax.map(lambda k: jax.lax.map(lambda c: score(c, jax.random.fold_in(k, c)), jnp.arange(d)), keys)
    return scores.mean(axis=0), scores.std(axis=0)
