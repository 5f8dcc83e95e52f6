"""Truncated-DFT spectral convolution == the FFT reference, for the layer and the whole encoder.

Tolerance: both paths compute the same linear map in float32; their difference is round-off
of sums over the grid (a few thousand terms), so we ask for agreement to 2e-5 of the output's
largest magnitude (float32 epsilon is 1.2e-7), and 1e-12 in float64.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_sdk.agent import spectral_dft
from atom_sdk.agent.encoder import SpectralConv3d, SpectralEncoder
from atom_sdk.errors import ConfigError

RTOL32 = 2e-5

# (batch dims, grid, channels, modes): the grids, odd and 2D sizes, modes above half the grid
LAYER_CASES = [
    ((2,), (32, 32, 16), 16, 4),
    ((), (17, 9, 1), 3, 4),
    ((3,), (8, 8, 4), 4, 6),
    ((2, 3), (7, 5, 3), 2, 4),
]


def _close(a, b, rtol=RTOL32):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.max(np.abs(b))), 1e-30)
    err = float(np.max(np.abs(a - b)))
    assert err <= rtol * scale, f"max error {err:.3g} > {rtol:g} x scale {scale:.3g}"


def _tree_close(a, b, rtol=RTOL32):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        _close(x, y, rtol)


@pytest.mark.parametrize("batch,grid,c,m", LAYER_CASES)
def test_layer_dft_matches_fft_forward_and_gradients(batch, grid, c, m):
    x = jax.random.normal(jax.random.key(1), (*batch, *grid, c))
    dft, fft = SpectralConv3d(5, m, transform="dft"), SpectralConv3d(5, m, transform="fft")
    params = jax.jit(fft.init)(jax.random.key(0), x)
    probe = jax.random.normal(jax.random.key(2), (*batch, *grid, 5))  # a random cotangent

    def run(mod):  # output and gradients w.r.t. parameters and input, in one compiled program
        def loss(p, x):
            out = mod.apply(p, x)
            return jnp.sum(out * probe), out

        return jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, x)

    (g_d, out_d), (g_f, out_f) = run(dft), run(fft)
    assert out_d.shape == out_f.shape == (*batch, *grid, 5)
    assert float(jnp.max(jnp.abs(out_f))) > 1e-3  # a real signal, not zeros
    _close(out_d, out_f)
    _tree_close(g_d, g_f)


def test_layer_channel_major_and_folded_lift_match_fft():
    fields = jax.random.normal(jax.random.key(3), (4, 2, 12, 10, 6))  # (Cf, batch, nx, ny, nz)
    kernel = jax.random.normal(jax.random.key(4), (4, 8))
    bias = jax.random.normal(jax.random.key(5), (8,))
    dft, fft = SpectralConv3d(6, 3, transform="dft"), SpectralConv3d(6, 3, transform="fft")
    lifted = jnp.einsum("fbxyz,fc->cbxyz", fields, kernel) + bias[:, None, None, None, None]
    params = fft.init(jax.random.key(0), lifted, 0)
    ref = jnp.moveaxis(fft.apply(params, jnp.moveaxis(lifted, 0, -1)), -1, 0)  # channels-last reference
    _close(dft.apply(params, lifted, 0), ref)
    _close(dft.apply(params, fields, 0, (kernel, bias)), ref)  # lift folded into the mixing weights
    _close(fft.apply(params, fields, 0, (kernel, bias)), ref)

    def loss(mod):
        return lambda p, k, b: jnp.sum(jnp.sin(mod.apply(p, fields, 0, (k, b))))

    # kernel and bias gradients are sums over the whole grid: a little more float32 round-off
    _tree_close(jax.jit(jax.grad(loss(dft), argnums=(0, 1, 2)))(params, kernel, bias),
                jax.jit(jax.grad(loss(fft), argnums=(0, 1, 2)))(params, kernel, bias), rtol=1e-4)
    with pytest.raises(ConfigError):
        dft.apply(params, lifted, 1)


class _PreDftEncoder(nn.Module):
    """The encoder as it was before the DFT path (channels-last, nn.Dense): the checkpoint format."""

    latent_dim: int
    fourier_modes: int
    width: int = 16
    n_layers: int = 2

    @nn.compact
    def __call__(self, fields):
        x = nn.Dense(self.width, name="lift")(jnp.moveaxis(fields, -4, -1))
        for i in range(self.n_layers):
            spec = SpectralConv3d(self.width, self.fourier_modes, "fft", name=f"spectral_{i}")(x)
            x = nn.gelu(spec + nn.Dense(self.width, name=f"pointwise_{i}")(x))
        pooled = jnp.concatenate([x.mean(axis=(-4, -3, -2)), jnp.sqrt(x.var(axis=(-4, -3, -2)) + 1e-6)], -1)
        return nn.Dense(self.latent_dim, name="project")(pooled)


@pytest.mark.parametrize("batch,grid,m", [((2,), (32, 32, 16), 4), ((), (17, 9, 1), 4), ((3,), (8, 8, 4), 6)])
def test_encoder_same_parameters_and_latent_as_before(batch, grid, m):
    fields = jax.random.normal(jax.random.key(6), (*batch, 5, *grid))
    old = _PreDftEncoder(latent_dim=8, fourier_modes=m)
    params = jax.jit(old.init)(jax.random.key(0), fields)
    new = SpectralEncoder(latent_dim=8, fourier_modes=m, transform="dft")
    new_params = jax.jit(new.init)(jax.random.key(0), fields)
    # same names, shapes and initial values: every existing checkpoint loads unchanged
    assert jax.tree.structure(new_params) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(params)):
        assert a.shape == b.shape and bool(jnp.all(a == b))

    def run(mod):  # latent and gradients w.r.t. parameters and fields, in one compiled program
        def loss(p, f):
            z = mod.apply(p, f)
            return jnp.sum(jnp.sin(z)), z

        return jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, fields)

    (g_old, z_old), (g_new, z_new) = run(old), run(new)
    assert z_old.shape == (*batch, 8)
    _close(z_new, z_old)
    _close(jax.jit(SpectralEncoder(8, m, transform="fft").apply)(params, fields), z_old)
    _tree_close(g_new, g_old, rtol=5e-5)  # through GELU, pooling and projection: a little more round-off


def test_encoder_dft_latent_invariant_to_periodic_translation():
    enc = SpectralEncoder(latent_dim=8, fourier_modes=3, width=8, transform="dft")
    x = jax.random.normal(jax.random.key(3), (2, 12, 10, 4))
    params = jax.jit(enc.init)(jax.random.key(0), x)
    fields = jnp.stack([x, jnp.roll(x, (5, 3, 1), axis=(1, 2, 3)), jax.random.normal(jax.random.key(4), x.shape)])
    z, z_shift, z_other = jax.jit(enc.apply)(params, fields)
    np.testing.assert_allclose(z_shift, z, atol=1e-5)
    assert float(jnp.max(jnp.abs(z_other - z))) > 1e-3


def test_float64_inputs_under_x64_match_fft_to_double_round_off():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(7), (2, 9, 8, 5, 3), jnp.float64)
        dft, fft = SpectralConv3d(4, 3, transform="dft"), SpectralConv3d(4, 3, transform="fft")
        params = fft.init(jax.random.key(0), x)
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        out_d = dft.apply(params, x)
        assert out_d.dtype == jnp.float64
        _close(out_d, fft.apply(params, x), rtol=1e-12)


def test_dft_matrices_are_the_fft():
    """The kept-frequency matrices reproduce numpy's rfftn coefficients on the kept box."""
    nx, ny, nz, m = 9, 6, 7, 3
    x = np.random.default_rng(0).normal(size=(nx, ny, nz))
    mats = spectral_dft._matrices(nx, ny, nz, m)
    a = np.einsum("xyz,zk->xyk", x, mats["fz"]).reshape(nx, ny, 2, -1)
    a = np.einsum("qkpy,xypz->xqkz", mats["fy"], a)
    a = np.einsum("rjqx,xqkz->rjkz", mats["fx"], a)
    ref = np.fft.rfftn(x)
    px, py = spectral_dft._positions(nx, m), spectral_dft._positions(ny, m)
    ref = ref[np.ix_(px, py, np.arange(m))]
    np.testing.assert_allclose(a[0] + 1j * a[1], ref, atol=1e-10)


def test_auto_takes_the_dft_where_measured_faster_and_the_fft_where_not():
    # measured crossover (see spectral_dft.DFT_MAX_COST_RATIO): the agent's grids at 4 modes -> DFT
    assert spectral_dft.dft_is_faster(32, 32, 16, 4) and spectral_dft.dft_is_faster(176, 36, 1, 4)
    assert spectral_dft.dft_is_faster(64, 64, 32, 8)
    # many modes relative to the grid -> FFT
    assert not spectral_dft.dft_is_faster(32, 32, 16, 12) and not spectral_dft.dft_is_faster(16, 16, 8, 9)
    assert spectral_dft.dft_cost_ratio(32, 32, 16, 17) > spectral_dft.dft_cost_ratio(32, 32, 16, 8)
