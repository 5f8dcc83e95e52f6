"""The spectral encoder's internal layout (channel-major, grid flattened between layers) is a
speed matter only: its latent and its parameter gradients are those of the plain textbook
form (channels-last, FFT spectral convolution, GELU, mean/std pooling) to float32 round-off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.agent.encoder import SpectralEncoder
from atom_sdk.agent.spectral_dft import fft_spectral_conv

MODES = 4


def textbook_encoder(params: dict, fields: jnp.ndarray, n_layers: int) -> jnp.ndarray:
    """lift -> n x GELU(spectral conv + pointwise) -> [mean, sqrt(var + 1e-6)] over the grid -> project."""
    p = params["params"]
    x = jnp.moveaxis(fields, -4, -1)  # (..., nx, ny, nz, C)
    x = x @ p["lift"]["kernel"] + p["lift"]["bias"]
    for i in range(n_layers):
        spec = fft_spectral_conv(x, p[f"spectral_{i}"]["weight_real"], p[f"spectral_{i}"]["weight_imag"], MODES)
        point = x @ p[f"pointwise_{i}"]["kernel"] + p[f"pointwise_{i}"]["bias"]
        x = jax.nn.gelu(spec + point, approximate=True)
    grid_axes = (-4, -3, -2)
    pooled = jnp.concatenate([x.mean(axis=grid_axes), jnp.sqrt(x.var(axis=grid_axes) + 1e-6)], axis=-1)
    return pooled @ p["project"]["kernel"] + p["project"]["bias"]


@pytest.mark.parametrize("transform", ["dft", "fft"])
@pytest.mark.parametrize("shape", [(2, 5, 16, 16, 8), (5, 12, 10, 1)], ids=["batched-3d", "unbatched-2d"])
@pytest.mark.parametrize("n_layers", [0, 2])
def test_latent_and_gradients_are_the_textbook_encoders(transform, shape, n_layers):
    fields = jax.random.normal(jax.random.key(3), shape)
    enc = SpectralEncoder(fourier_modes=MODES, n_layers=n_layers, transform=transform)
    params = jax.jit(enc.init)(jax.random.key(0), fields)

    got = jax.jit(enc.apply)(params, fields)
    want = jax.jit(textbook_encoder, static_argnums=2)(params, fields, n_layers)
    assert got.shape == want.shape == shape[:-4] + (enc.latent_dim,)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * float(jnp.max(jnp.abs(want))))

    def loss(f):
        return jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(f(p)))))(params)

    g_got = loss(lambda p: enc.apply(p, fields))
    g_want = loss(lambda p: textbook_encoder(p, fields, n_layers))
    for path, a in jax.tree_util.tree_leaves_with_path(g_want):
        b = g_got
        for k in path:
            b = b[k.key]
        scale = float(jnp.max(jnp.abs(a)))
        assert scale > 0.0, path  # every parameter reaches the latent
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * scale, err_msg=jax.tree_util.keystr(path))
