"""The one place where closureflow chooses floating-point precision.

Physics (N-body, kinetic theory) runs in float64; networks choose float32 explicitly through
``NETWORK_DTYPE``.
"""

import jax
import jax.numpy as jnp

PHYSICS_DTYPE = jnp.float64
NETWORK_DTYPE = jnp.float32


def enable_float64() -> None:
    """Turn on JAX's 64-bit mode (idempotent); must run before arrays are created."""
    jax.config.update("jax_enable_x64", True)


def precision_name() -> str:
    """'float64' when JAX's 64-bit mode is on, else 'float32'."""
    return "float64" if jax.config.jax_enable_x64 else "float32"
