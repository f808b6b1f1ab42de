"""Dense output: the state between two steps from the quintic Hermite interpolant.

Through positions, velocities and accelerations at both ends of a step of length h, the quintic
x(t) is determined; its error is O(h^6) in position and O(h^5) in velocity, below the local
error of the 4th-order schemes it serves, so a sample costs no force evaluation and does not
shorten any step.
"""

from jax import Array


def quintic_hermite_basis(s: Array) -> tuple[Array, ...]:
    """Weights of (x0, h v0, h² a0, x1, h v1, h² a1) at s = (t - t0) / h in [0, 1], and of
    their s-derivatives (the same order)."""
    s2, s3 = s * s, s * s * s
    s4, s5 = s3 * s, s3 * s2
    weights = (
        1 - 10 * s3 + 15 * s4 - 6 * s5,
        s - 6 * s3 + 8 * s4 - 3 * s5,
        0.5 * s2 - 1.5 * s3 + 1.5 * s4 - 0.5 * s5,
        10 * s3 - 15 * s4 + 6 * s5,
        -4 * s3 + 7 * s4 - 3 * s5,
        0.5 * s3 - s4 + 0.5 * s5,
    )
    derivatives = (
        -30 * s2 + 60 * s3 - 30 * s4,
        1 - 18 * s2 + 32 * s3 - 15 * s4,
        s - 4.5 * s2 + 6 * s3 - 2.5 * s4,
        30 * s2 - 60 * s3 + 30 * s4,
        -12 * s2 + 28 * s3 - 15 * s4,
        1.5 * s2 - 4 * s3 + 2.5 * s4,
    )
    return weights, derivatives


def interpolate_state(
    start: tuple[Array, Array, Array, Array],
    end: tuple[Array, Array, Array, Array],
    t: Array,
) -> tuple[Array, Array]:
    """Positions and velocities (N, d) at time t in [t0, t1] of one step.

    start, end: (t, positions, velocities, accelerations) at the two ends, arrays (N, d).
    At t = t1 the result is the end state itself, up to rounding.
    """
    t0, x0, v0, a0 = start
    t1, x1, v1, a1 = end
    h = t1 - t0
    s = (t - t0) / h
    terms = (x0, h * v0, h * h * a0, x1, h * v1, h * h * a1)
    weights, derivatives = quintic_hermite_basis(s)
    positions = sum(w * term for w, term in zip(weights, terms, strict=True))
    velocities = sum(w * term for w, term in zip(derivatives, terms, strict=True)) / h
    return positions, velocities
