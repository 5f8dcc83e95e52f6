"""The one Welford normaliser on the host (NumPy float64, checkpointed) and on the device (jnp float32)."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from atom_sdk.agent.running_stats import BatchMoments, RunningNorm


def _stream():
    rng = np.random.default_rng(0)
    xs = [rng.normal(3.0, 2.0, size=5) for _ in range(20)]
    xs[7] = np.array([1.0, np.nan, 0.0, 0.0, 0.0])  # skipped
    return xs


def test_host_welford_in_float64_matches_the_textbook_loop_and_round_trips():
    norm = RunningNorm.host(5)
    count, mean, m2 = 0, np.zeros(5), np.zeros(5)
    for x in _stream():
        norm = norm.update(x)
        if np.all(np.isfinite(x)):
            count += 1
            delta = x - mean
            mean += delta / count
            m2 += delta * (x - mean)
    assert norm.count == count == 19 and isinstance(norm.count, int)
    assert norm.mean.dtype == np.float64 and np.array_equal(norm.mean, mean) and np.array_equal(norm.m2, m2)
    z = norm.normalize(np.full(5, 100.0))
    assert z.dtype == np.float32 and np.all(z == 10.0)  # clipped
    again = RunningNorm.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again.to_dict() == norm.to_dict() and np.array_equal(again.normalize(mean), norm.normalize(mean))


def test_device_welford_agrees_with_the_host_and_runs_under_jit():
    host, dev = RunningNorm.host(5), RunningNorm.device(5)
    step = jax.jit(lambda n, x: (n.update(x), n.update(x).normalize(x)))
    for x in _stream():
        host = host.update(x)
        dev, z = step(dev, jnp.asarray(x, jnp.float32))
        np.testing.assert_allclose(np.asarray(z), host.normalize(x), rtol=1e-4, atol=1e-5)
    assert float(dev.count) == host.count
    assert dev.mean.dtype == jnp.float32


def test_batch_moments_merge_equals_the_moments_of_the_whole_stream():
    data = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    stats = BatchMoments.create((3,))
    for batch in np.split(data, 4):
        stats = stats.update(jnp.asarray(batch))
    np.testing.assert_allclose(np.asarray(stats.mean), data.mean(0), atol=1e-4)
    np.testing.assert_allclose(np.asarray(stats.var), data.var(0), rtol=1e-3, atol=1e-4)
