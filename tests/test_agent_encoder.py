"""Field encoders: grid-independent weights, exact FFT plumbing, translation invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.agent.encoder import ConvEncoder, SpectralConv3d, SpectralEncoder, make_encoder
from atom_sdk.errors import ConfigError

GRIDS = [(16, 16, 1), (7, 5, 3), (40, 9, 1)]


def test_spectral_encoder_one_set_of_weights_for_every_grid():
    enc = SpectralEncoder(latent_dim=12, fourier_modes=4, width=8)
    apply = jax.jit(enc.apply)
    params = jax.jit(enc.init)(jax.random.key(0), jnp.zeros((3, *GRIDS[0])))
    for grid in GRIDS:
        x = jax.random.normal(jax.random.key(1), (3, *grid))
        z = apply(params, x)
        assert z.shape == (12,) and bool(jnp.all(jnp.isfinite(z)))
    # leading batch axes are carried through, and equal the per-sample result
    xb = jax.random.normal(jax.random.key(2), (2, 3, *GRIDS[1]))
    zb = apply(params, xb)
    assert zb.shape == (2, 12)
    np.testing.assert_allclose(zb[1], apply(params, xb[1]), atol=1e-5)


def test_spectral_latent_invariant_to_periodic_translation():
    enc = SpectralEncoder(latent_dim=8, fourier_modes=3, width=8)
    x = jax.random.normal(jax.random.key(3), (2, 12, 10, 4))
    params = jax.jit(enc.init)(jax.random.key(0), x)
    fields = jnp.stack([x, jnp.roll(x, (5, 3, 1), axis=(1, 2, 3)), jax.random.normal(jax.random.key(4), x.shape)])
    z, z_shift, z_other = jax.jit(enc.apply)(params, fields)
    np.testing.assert_allclose(z_shift, z, atol=1e-5)  # float32 round-off only
    assert float(jnp.max(jnp.abs(z_other - z))) > 1e-3  # ...while a different field differs


def test_spectral_conv_is_exact_when_all_modes_kept_and_mean_when_one():
    x = jax.random.normal(jax.random.key(5), (6, 6, 4, 3))  # channels last, as inside the encoder
    layer = SpectralConv3d(features=3, modes=4)  # 4 >= every |k| of a 6x6x4 grid
    params = jax.eval_shape(layer.init, jax.random.key(0), x)
    eye = jnp.broadcast_to(jnp.eye(3), params["params"]["weight_real"].shape)
    ident = {"params": {"weight_real": eye, "weight_imag": jnp.zeros_like(eye)}}
    np.testing.assert_allclose(jax.jit(layer.apply)(ident, x), x, atol=1e-5)
    # with a single mode only k=0 survives: the output is the spatial mean, everywhere
    one = SpectralConv3d(features=3, modes=1)
    eye1 = jnp.eye(3).reshape(1, 1, 1, 3, 3)
    out = jax.jit(one.apply)({"params": {"weight_real": eye1, "weight_imag": 0 * eye1}}, x)
    np.testing.assert_allclose(out, jnp.broadcast_to(x.mean((0, 1, 2)), x.shape), atol=1e-5)


def test_conv_encoder_shapes_2d_and_3d_and_errors():
    enc = ConvEncoder(latent_dim=6, features=(4, 8))
    params = jax.jit(enc.init)(jax.random.key(0), jnp.zeros((2, 9, 7, 1)))
    z = enc.apply(params, jax.random.normal(jax.random.key(1), (2, 10, 6, 4)))
    assert z.shape == (6,) and float(jnp.std(z)) > 0
    with pytest.raises(ConfigError):
        enc.apply(params, jnp.ones((8, 8)))
    with pytest.raises(ConfigError):
        make_encoder("transformer", 8, 4)
