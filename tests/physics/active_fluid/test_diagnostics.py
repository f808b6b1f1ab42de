"""Diagnostics against fields with known values."""

import jax.numpy as jnp
import numpy as np
import pytest

from physics.active_fluid import diagnostics

N, L = 16, 2 * np.pi


def test_order_parameter_and_director():
    c = jnp.full((N, N), 1.5)
    isotropic = jnp.broadcast_to(1.5 * jnp.eye(2) / 2, (N, N, 2, 2))
    np.testing.assert_allclose(diagnostics.order_parameter(c, isotropic), 0.0, atol=1e-15)
    angle = 0.3
    p = jnp.array([np.cos(angle), np.sin(angle)])
    aligned = jnp.broadcast_to(1.5 * jnp.outer(p, p), (N, N, 2, 2))
    np.testing.assert_allclose(diagnostics.order_parameter(c, aligned), 1.0, atol=1e-15)
    np.testing.assert_allclose(diagnostics.director_angle(aligned), angle, atol=1e-15)
    half = 0.5 * isotropic + 0.5 * aligned  # eigenvalues of D/c: 3/4, 1/4
    assert float(diagnostics.mean_order_parameter(c, half)) == pytest.approx(0.5)


def taylor_green(k=2):
    x = jnp.arange(N) * L / N
    X, Y = jnp.meshgrid(x, x, indexing="ij")
    return jnp.stack([jnp.sin(k * X) * jnp.cos(k * Y), -jnp.cos(k * X) * jnp.sin(k * Y)], -1)


def test_energy_enstrophy_and_spectrum_of_a_taylor_green_vortex():
    u = taylor_green(k=2)
    assert float(diagnostics.kinetic_energy(u)) == pytest.approx(0.25)
    # ω = 2k sin kx sin ky, ⟨ω²⟩ = k².
    assert float(diagnostics.enstrophy(u, L)) == pytest.approx(0.5 * 4, rel=1e-12)
    k, spectrum = diagnostics.velocity_spectrum(u, L)
    assert k.shape == spectrum.shape == (N // 2 + 1,)
    assert float(spectrum.sum()) == pytest.approx(0.25, rel=1e-12)
    shell = int(np.round(np.sqrt(8)))  # all energy at |k index| = (2, 2)
    assert float(spectrum[shell]) == pytest.approx(0.25, rel=1e-12)
    assert float(k[1]) == pytest.approx(2 * np.pi / L)


def test_velocity_statistics():
    u = taylor_green() + jnp.array([0.3, -0.1])
    stats = diagnostics.velocity_statistics(u)
    np.testing.assert_allclose(stats.mean, [0.3, -0.1], atol=1e-15)
    assert float(stats.rms) == pytest.approx(np.sqrt(0.5 + 0.1), rel=1e-12)
    assert float(stats.max_speed) >= float(stats.mean_speed) > 0
