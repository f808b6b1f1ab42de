"""The active-fluid velocity: Stokes flow driven by the particle stress, solved self-consistently.

    −Δu + ∇P = ∇·Σ,  ∇·u = 0,   Σ = α D + β S:E − 2ζβ (D·D − S:D),   E = (∇u + ∇uᵀ)/2.

S:E makes u depend on itself. Two treatments, both explicit about it: :func:`solve_flow`
solves for E to a relative tolerance (diagnostics, closure targets, the start of a rollout);
a time step lags S:E at the strain extrapolated from the previous steps and solves Stokes once
(:func:`stepping_flow`: second order, stable for the S of any distribution, one Stokes solve
instead of about ten conjugate-gradient iterations).
For the solve, the isotropic part of S is moved to the left side first: with
S_iso = (c̄/8)(δδ + δδ + δδ), c̄ the mean concentration, S_iso:E = c̄E/4 for trace-free E, and
∇·(β c̄ E/4) = (β c̄/8) Δu, so the system is equivalently

    −ν Δu + ∇P = ∇·(Σ − β c̄ E/4),   ν = 1 + β c̄/8,

and the iteration E ← strain(Stokes_ν(Σ(E) − β c̄ E/4)) is exact in one step at isotropy.
Its contraction factor: the map Σ ↦ E of Stokes flow is −½ times an orthogonal projection (in
L², per Fourier mode onto the trace-free shear component relative to k), and on trace-free E
the operator E ↦ S:E has eigenvalues in [0, c/2] pointwise (0 ≤ S:E·E = ∫(p·E·p)²Ψ dθ
≤ c|E|²/2), so E ↦ S:E − c̄E/4 has norm ≤ max(c̄/4, c_max/2 − c̄/4) and the error shrinks each
iteration by at most (β/2) max(c̄/4, c_max/2 − c̄/4) / ν: ≤ 0.09 for β = 0.8, c̄ = c_max = 1,
and → 0 near isotropy (measured ≈ 0.05 on perturbed states and ≈ 0.08 in the developed
active-nematic state: 10 and 13 fixed-point iterations to 1e-12).

The unknown is the pair (E11, E12) (E is trace-free), and only the trace-free part of Σ drives
the flow. Packed as complex fields, e = E11 + iE12 and σ = (Σ11 − Σ22)/2 + iΣ12, an iteration
takes one complex FFT each way, with the Stokes solve and sym ∇ in between one multiplier per
Fourier mode (:func:`_strain_update`).

Closures affine in E (the exact S, and Bingham's, the quadratic and learned closures of D once
prepared, see below and :data:`AFFINE_CLOSURES`) are also pointwise, so their trace-free stress
is σ(E) = σ₀ + a E11 + b E12 with fields σ₀, a, b formed once per solve
(:func:`affine_stress`): the iterations read two slope fields instead of evaluating the
closure. That affine map is solved by conjugate gradients (:func:`solve_fixed_point`). On the
range of the projection its slope is −(1/2ν) P A P with P the projection and A the pointwise,
symmetric derivative of β(S:E − c̄E/4) (symmetric for every closure derived from a fourth
moment), so I minus it is self-adjoint and positive definite, and CG reduces the error by about
0.035 per iteration where the fixed point reduces it by 0.08 (measured in the developed state:
10 instead of 13 evaluations, every one a complex FFT pair). Any other closure (nonlinear in E,
e.g. a learned one whose fourth moment depends on the strain) is solved by Anderson
acceleration of depth one (:func:`accelerated_fixed_point`), which needs no derivative and
about as many evaluations (11 in the developed state, against 19 for linearising at E = 0 and
iterating from the model's solution). The solve is wrapped in an implicit-function-theorem VJP
(:func:`fixed_point`), so ``jax.grad`` differentiates through it at the cost of one adjoint
solve, with no unrolling.

Before iterating, a closure may prepare itself for the given D (:func:`prepare_closure`), so
that work depending on D alone (Bingham's Bessel factor, a learned closure's network) runs once
per solve rather than in every evaluation of the map.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from physics.active_fluid.moments import exact_closure, harmonic_closure, product, symmetric
from physics.active_fluid.params import ActiveFluidParams
from physics.spectral import make_grid, reflected, stokes_velocity, unpack_pair, wavenumber_indices

Closure = Callable[[Any, Array, Array, Array], tuple[Array, Array]]



def prepare_closure(
    closure: Closure, closure_params: Any, c: Array, D: Array
) -> tuple[Closure, Any]:
    """(closure, params) to iterate the flow of the fields c, D with: what
    ``closure.prepare(closure_params, c, D)`` returns when the closure has that method, else
    the closure and its params unchanged.

    The Stokes solve evaluates the closure at a dozen or more strains E for one D; a closure
    whose expensive part depends on D alone (Bingham's Bessel-ratio factor, a network of D's
    invariants or fields) computes that part in ``prepare`` once per solve and returns a cheap
    closure of E, e.g. :func:`~physics.active_fluid.moments.harmonic_closure` with the
    harmonics as params. Both must give the same (S:D, S:E) as the closure itself.
    """
    prepare = getattr(closure, "prepare", None)
    return (closure, closure_params) if prepare is None else prepare(closure_params, c, D)


AFFINE_CLOSURES = frozenset({exact_closure, harmonic_closure})
"""Closures whose (S:D, S:E) are affine in E, with a symmetric slope (S:E of a fixed S): their
flow is solved by conjugate gradients on the linearised map (:func:`solve_fixed_point`)."""


def is_affine(closure: Closure) -> bool:
    """Whether a (prepared) closure is one of :data:`AFFINE_CLOSURES`; any other closure's flow
    is solved by :func:`accelerated_fixed_point`, which does not assume it."""
    return closure in AFFINE_CLOSURES


STOKES_RTOL = 1e-12
"""Relative tolerance (max-norm change of E per iteration) of the self-consistent flow."""
STOKES_MAX_ITERATIONS = 100
"""Hard cap on the iterations of each phase (far above what a contraction of 0.5 needs)."""


class Flow(NamedTuple):
    """The self-consistent flow of a state and the closure terms it was solved with.

    u: (n, n, 2) velocity. grad_u: (n, n, 2, 2), (∇u)_ij = ∂u_i/∂x_j.
    S_D, S_E: (n, n, 2, 2) the closure's S:D and S:E at E = sym(∇u).
    """

    u: Array
    grad_u: Array
    S_D: Array
    S_E: Array


def stress(params: ActiveFluidParams, D: Array, S_D: Array, S_E: Array) -> Array:
    """Σ = α D + β S:E − 2ζβ (D·D − S:D). D, S_D, S_E: (..., 2, 2). Returns (..., 2, 2)."""
    return params.alpha * D + params.beta * S_E - 2 * params.zeta * params.beta * (
        product(D, D) - S_D
    )


def _trace_free(x: Array) -> Array:
    """The trace-free symmetric tensor (n, n, 2, 2) [[e, f], [f, −e]] of x = (e, f) (2, n, n)."""
    return symmetric(x[0], x[1], -x[0])


def _deviatoric_stress(
    closure: Closure, x: Array, inputs: tuple, shift: Array | None = None
) -> tuple[Array, Array, tuple[Array, Array]]:
    """(trace-free stress (Σ11 − Σ22)/2 + iΣ12 (n, n) complex, viscosity ν, (S:D, S:E)) of the
    preconditioned Stokes problem, the strain given by its two independent components
    x = (E11, E12) (2, n, n) (E is trace-free: E22 = −E11).

    The uniform part β·shift·E of β S:E (shift c̄/4 by default, that of the isotropic S) moves
    to the left side as the viscosity ν = 1 + β·shift/2 (∇·E = Δu/2).
    Only the trace-free part of the stress drives the flow (the divergence of an isotropic
    stress is a gradient, which the projection removes exactly); its two real components,
    packed as one complex field, take one complex FFT.
    """
    params, c, D, closure_params = inputs
    shift = jnp.mean(c) / 4 if shift is None else shift
    E = _trace_free(x)
    S_D, S_E = closure(closure_params, c, D, E)
    sigma = stress(params, D, S_D, S_E) - (params.beta * shift) * E
    packed = (sigma[..., 0, 0] - sigma[..., 1, 1]) / 2 + 1j * sigma[..., 0, 1]
    return packed, 1 + params.beta * shift / 2, (S_D, S_E)


@functools.cache
def _shear_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(k ≠ 0 mask, e^{4iφ}) (n, n) on the full FFT grid, φ the angle of each wave vector
    (odd-derivative wavenumbers: Nyquist indices count as 0; e^{4iφ} = 0 where k = 0)."""
    k = wavenumber_indices(n)
    k = np.where(k == -n // 2, 0, k).astype(float)
    kx, ky = k[:, None], k[None, :]
    k2 = kx**2 + ky**2
    inverse = np.where(k2 > 0, 1 / np.where(k2 > 0, k2, 1.0), 0.0)
    return (k2 > 0).astype(float), ((kx + 1j * ky) ** 2 * inverse) ** 2


def strain_of_stress(packed: Array, viscosity: Array | float) -> Array:
    """(E11, E12) (2, n, n) of the Stokes flow −ν Δu + ∇P = ∇·Σ, ∇·u = 0 of a trace-free stress
    packed as (Σ11 − Σ22)/2 + iΣ12 (n, n) complex: one complex FFT each way.

    Per wave vector of angle φ, the Stokes flow of a trace-free stress (σ_n, σ_s) =
    ((Σ11 − Σ22)/2, Σ12) has the strain (E11, E12) = (−sin 2φ, cos 2φ) w with
    w = (sin 2φ σ_n − cos 2φ σ_s)/(2ν): −1/(2ν) times the projection onto the shear component
    relative to k (what :func:`~physics.spectral.stokes_velocity` followed by sym ∇ computes).
    With σ = σ_n + iσ_s and e = E11 + iE12 packed as complex fields, that is
    ê = −(σ̂ − e^{4iφ} conj(σ̂(−k)))/(4ν), conj(σ̂(−k)) being the spectrum of conj(σ). (One
    complex FFT of the pair is faster than a real FFT of both on XLA's CPU backend.)
    """
    nonzero, rotation = _shear_tables(packed.shape[-1])
    sigma_hat = jnp.fft.fft2(packed)
    e = jnp.fft.ifft2(
        (nonzero * (-0.25 / viscosity)) * sigma_hat
        + (rotation * (0.25 / viscosity)) * jnp.conj(reflected(sigma_hat))
    )
    return jnp.stack([jnp.real(e), jnp.imag(e)])


def _strain_update(closure: Closure, x: Array, inputs: tuple) -> Array:
    """One fixed-point iteration (E11, E12) ↦ those of sym ∇u(E) (2, n, n) for any closure."""
    packed, viscosity, _ = _deviatoric_stress(closure, x, inputs)
    return strain_of_stress(packed, viscosity)


class AffineStress(NamedTuple):
    """The packed trace-free stress of a closure affine and pointwise in E, per grid point:
    σ(x) = sigma0 + slope[0] E11 + slope[1] E12, x = (E11, E12).

    sigma0: (n, n) complex σ at E = 0. slope: (2, n, n) complex ∂σ/∂E11, ∂σ/∂E12.
    viscosity: () ν.
    """

    sigma0: Array
    slope: Array
    viscosity: Array


def affine_stress(closure: Closure, inputs: tuple) -> AffineStress:
    """:class:`AffineStress` of a closure in :data:`AFFINE_CLOSURES`, from one linearisation of
    its stress at E = 0 applied to the two uniform unit strains.

    Exact for those closures: each is affine in E and pointwise (S:E at a point depends on E
    there only), so the response to a uniform unit strain is the local slope everywhere.
    """
    _, c, D, _ = inputs
    x0 = jnp.zeros((2, *c.shape), D.dtype)
    sigma0, tangent, viscosity = jax.linearize(
        lambda x: _deviatoric_stress(closure, x, inputs)[:2], x0, has_aux=True
    )
    units = jnp.eye(2, dtype=D.dtype)[:, :, None, None] * jnp.ones_like(x0)
    slope = jnp.stack([tangent(units[b]) for b in range(2)])
    return AffineStress(sigma0, slope, viscosity)


def _affine_strain_update(x: Array, stress_model: AffineStress) -> Array:
    """:func:`_strain_update` of an :class:`AffineStress`: two products per point and one
    complex FFT each way, none of the closure's own work."""
    sigma0, slope, viscosity = stress_model
    return strain_of_stress(sigma0 + slope[0] * x[0] + slope[1] * x[1], viscosity)


def iterate_to_fixed_point(
    f: Callable, x0: Array, theta: Any, rtol: float, max_iter: int
) -> tuple[Array, Array]:
    """(x, iterations) with x = f(x, theta) to max|Δx| ≤ rtol max|x|; a plain while loop."""

    def not_done(carry):
        _, change, scale, k = carry
        return (change > rtol * scale) & (k < max_iter)

    def one(carry):
        x, _, _, k = carry
        new = f(x, theta)
        return new, jnp.max(jnp.abs(new - x)), jnp.max(jnp.abs(new)), k + 1

    init = (x0, jnp.asarray(jnp.inf, x0.dtype), jnp.asarray(0.0, x0.dtype), 0)
    x, _, _, k = lax.while_loop(not_done, one, init)
    return x, k


def conjugate_gradients(
    apply: Callable, b: Array, rtol: float, max_iter: int
) -> tuple[Array, Array]:
    """(y, iterations) with apply(y) = b to max|b − apply(y)| ≤ rtol max|y|, by conjugate
    gradients from y = 0 (one apply per iteration).

    apply: a linear map, self-adjoint and positive definite in the Euclidean inner product of
    arrays shaped like b. Stops early, keeping the last iterate, if a search direction has
    non-positive curvature (apply not positive definite).
    """

    def unconverged(y: Array, r: Array) -> Array:
        return jnp.max(jnp.abs(r)) > rtol * jnp.max(jnp.abs(y))

    def one(carry):
        y, r, p, rr, k, _ = carry
        ap = apply(p)
        curvature = jnp.vdot(p, ap)
        positive = curvature > 0
        alpha = jnp.where(positive, rr / jnp.where(positive, curvature, 1.0), 0.0)
        y, r = y + alpha * p, r - alpha * ap
        rr_new = jnp.vdot(r, r)
        go = positive & unconverged(y, r) & (k + 1 < max_iter)
        return y, r, r + (rr_new / rr) * p, rr_new, k + 1, go

    # The test is made in the body, where it fuses with the updates.
    y0 = jnp.zeros_like(b)
    init = (y0, b, b, jnp.vdot(b, b), 0, unconverged(y0, b) & (max_iter > 0))
    y, _, _, _, k, _ = lax.while_loop(lambda carry: carry[-1], one, init)
    return y, k


def accelerated_fixed_point(
    f: Callable, x0: Array, theta: Any, rtol: float, max_iter: int
) -> tuple[Array, Array]:
    """(x, evaluations of f) with x = f(x, theta) to max|f(x) − x| ≤ rtol max|f(x)|, by
    Anderson acceleration of depth one (a secant method) from x0.

    Each iteration evaluates f once at x_k (residual g_k = f(x_k) − x_k) and moves to
    x_{k+1} = f(x_k) − γ (f(x_k) − f(x_{k−1})), γ = ⟨Δg, g_k⟩/⟨Δg, Δg⟩ with Δg = g_k − g_{k−1}:
    the mix of the last two iterates whose linearised residual is smallest. For a map with a
    contraction factor q it converges at a Krylov-like rate rather than q per iteration, and
    needs no derivative of f, so a map nonlinear in x costs what an affine one does (measured
    on developed 32² states with a closure quadratic in E: 11 evaluations to 1e-12, against
    19 for the linearise-then-iterate solve). Returns the last f(x_k), which is the accurate
    one.
    """

    def one(carry):
        x, f_prev, g_prev, k, _ = carry
        fx = f(x, theta)
        g = fx - x
        dg = g - g_prev
        dgdg = jnp.vdot(dg, dg)
        mix = (k > 0) & (dgdg > 0)
        gamma = jnp.where(mix, jnp.vdot(dg, g) / jnp.where(mix, dgdg, 1.0), 0.0)
        go = (jnp.max(jnp.abs(g)) > rtol * jnp.max(jnp.abs(fx))) & (k + 1 < max_iter)
        return fx - gamma * (fx - f_prev), fx, g, k + 1, go

    # The test is made in the body, where it fuses with the updates.
    init = (x0, x0, jnp.zeros_like(x0), 0, jnp.asarray(max_iter > 0))
    _, fx, _, k, _ = lax.while_loop(lambda carry: carry[-1], one, init)
    return fx, k


def solve_fixed_point(
    f: Callable, x0: Array, theta: Any, rtol: float, max_iter: int, affine: bool = False
) -> tuple[Array, Array]:
    """(x, evaluations of f or its linearisation) with x = f(x, theta).

    affine=False: :func:`accelerated_fixed_point` from x0.

    affine=True, for maps known to be affine in x with a self-adjoint slope (the Stokes map of
    an :class:`AffineStress`, see :func:`solve_flow`): x = f(x0) + J (x − x0) with J = f'(x0)
    built once by ``jax.linearize``, i.e. (I − J)(x − x0) = f(x0) − x0, solved by conjugate
    gradients; the count is that of the evaluation of f(x0) plus the CG iterations (one
    application of J each). The linearisation is exact for such maps, so the CG residual is
    the fixed-point residual f(x) − x and no confirming evaluation of f is needed; the
    iterations skip whatever in f does not depend on x. (For a map that is not affine this
    returns the fixed point of its linearisation at x0: the caller's contract.)
    """
    if not affine:
        return accelerated_fixed_point(f, x0, theta, rtol, max_iter)
    f0, slope = jax.linearize(lambda x: f(x, theta), x0)
    y, k = conjugate_gradients(lambda v: v - slope(v), f0 - x0, rtol, max_iter)
    return x0 + y, k + 1


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3, 4, 5))
def fixed_point(
    f: Callable, x0: Array, theta: Any, rtol: float, max_iter: int, affine: bool = False
) -> Array:
    """The fixed point x = f(x, theta) of a contraction, reverse-differentiable in theta.

    f: (x, theta) -> x, static; solved by :func:`solve_fixed_point` (affine: whether f is known
    to be affine in x). Gradients come from the implicit function theorem: the cotangent w
    solves w = x̄ + (∂f/∂x)ᵀ w (by :func:`accelerated_fixed_point`, with the transpose
    linearised once), then θ̄ = (∂f/∂θ)ᵀ w. The initial guess x0 gets a zero cotangent.
    """
    return solve_fixed_point(f, x0, theta, rtol, max_iter, affine)[0]


def _fixed_point_fwd(f, x0, theta, rtol, max_iter, affine):
    x = solve_fixed_point(f, x0, theta, rtol, max_iter, affine)[0]
    return x, (x, x0, theta)


def _fixed_point_bwd(f, rtol, max_iter, affine, residuals, x_bar):
    del affine
    x, x0, theta = residuals
    _, vjp_x = jax.vjp(lambda y: f(y, theta), x)
    w, _ = accelerated_fixed_point(
        lambda w, xb: xb + vjp_x(w)[0], x_bar, x_bar, rtol, max_iter
    )
    _, vjp_theta = jax.vjp(lambda th: f(x, th), theta)
    return jnp.zeros_like(x0), vjp_theta(w)[0]


fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def _tolerance(dtype) -> float:
    """STOKES_RTOL, raised to 100 ulp in low precision so the iteration can stop."""
    return max(STOKES_RTOL, 100 * float(jnp.finfo(dtype).eps))


class StrainProblem(NamedTuple):
    """The fixed-point problem x = update(x, theta), x = (E11, E12), of one flow solve, with the
    closure prepared for D: closure and inputs = (params, c, D, prepared params) evaluate its
    stress; update, theta, rtol and affine are the arguments of :func:`fixed_point`."""

    closure: Closure
    inputs: tuple
    update: Callable
    theta: Any
    rtol: float
    affine: bool


def _strain_problem(
    params: ActiveFluidParams, c: Array, D: Array, closure: Closure, closure_params: Any
) -> StrainProblem:
    closure, closure_params = prepare_closure(closure, closure_params, c, D)
    inputs = (params, c, D, closure_params)
    rtol = _tolerance(D.dtype)
    if is_affine(closure):
        # The closure's stress is a pointwise affine map of E, formed once: the iterations then
        # read two slope fields instead of evaluating the closure.
        return StrainProblem(
            closure, inputs, _affine_strain_update, affine_stress(closure, inputs), rtol, True
        )
    return StrainProblem(
        closure, inputs, functools.partial(_strain_update, closure), inputs, rtol, False
    )


def velocity_of_stress(packed: Array, viscosity: Array | float, L: Array | float):
    """(u (n, n, 2), ∇u (n, n, 2, 2)) of the Stokes flow −ν Δu + ∇P = ∇·Σ, ∇·u = 0 of a
    trace-free stress packed as (Σ11 − Σ22)/2 + iΣ12 (n, n) complex, on the box of side L.

    One complex FFT of the stress, then one inverse FFT of the three complex fields
    ux + i uy and its x and y derivatives; (∇u)_ij = ∂u_i/∂x_j.
    """
    n = packed.shape[-1]
    normal, shear = unpack_pair(jnp.fft.fft2(packed))
    grid = make_grid(n, L)
    kx, ky = grid.kx, grid.kx.T  # odd-derivative wavenumbers on the full (n, n) grid
    u_hat = stokes_velocity(grid._replace(ky=ky), symmetric(normal, shear, -normal, 0), viscosity)
    packed_u = u_hat[0] + 1j * u_hat[1]  # ux + i uy, and its x and y derivatives below
    fields = jnp.fft.ifft2(jnp.stack([packed_u, 1j * kx * packed_u, 1j * ky * packed_u]))
    u = jnp.stack([jnp.real(fields[0]), jnp.imag(fields[0])], axis=-1)
    grad_u = jnp.stack(
        [
            jnp.stack([jnp.real(fields[1]), jnp.real(fields[2])], axis=-1),
            jnp.stack([jnp.imag(fields[1]), jnp.imag(fields[2])], axis=-1),
        ],
        axis=-2,
    )
    return u, grad_u


def strain_components(grad_u: Array) -> Array:
    """(E11, E12) (2, n, n) of E = (∇u + ∇uᵀ)/2, ∇u (n, n, 2, 2) of an incompressible flow
    (E22 = −E11)."""
    return jnp.stack([grad_u[..., 0, 0], (grad_u[..., 0, 1] + grad_u[..., 1, 0]) / 2])


def solve_flow(
    params: ActiveFluidParams,
    c: Array,
    D: Array,
    closure: Closure,
    closure_params: Any = (),
) -> Flow:
    """The self-consistent Stokes flow of the moment fields c (n, n) and D (n, n, 2, 2).

    closure(closure_params, c, D, E) -> (S:D, S:E) supplies the fourth moment (static).
    Differentiable in params, c, D and closure_params.
    """
    problem = _strain_problem(params, c, D, closure, closure_params)
    x0 = jnp.zeros((2, *c.shape), D.dtype)
    x = fixed_point(
        problem.update, x0, problem.theta, problem.rtol, STOKES_MAX_ITERATIONS, problem.affine
    )
    packed, viscosity, (S_D, S_E) = _deviatoric_stress(problem.closure, x, problem.inputs)
    u, grad_u = velocity_of_stress(packed, viscosity, params.L)
    return Flow(u=u, grad_u=grad_u, S_D=S_D, S_E=S_E)


def stepping_flow(
    params: ActiveFluidParams,
    c: Array,
    D: Array,
    closure: Closure,
    closure_params: Any,
    guess: Array,
) -> tuple[Flow, Array]:
    """(flow, its strain (E11, E12) (2, n, n)) of c, D in a time step, S:E explicitly lagged:
    the stress takes S:E at a guess of the strain extrapolated from the previous steps (the
    SBDF2 extrapolation of the explicit terms), and the flow follows from one Stokes solve,
    with no iteration. Its S:D, S:E (the moment model's reaction terms) are the closure's at the
    flow's own strain, as the kinetic theory's rotation rate uses it.

    Accuracy: the Stokes map's strain is F + J E* for the strain E* in the stress (J its
    derivative), so the lag leaves the error J(E* − E); with E* = 2Eⁿ⁻¹ − Eⁿ⁻² (equal steps)
    that is O(dt²), and SBDF2 stays second order. Stability: a perturbation of the lagged
    strains evolves as δⁿ = J(2δⁿ⁻¹ − δⁿ⁻²), which decays if and only if J's spectrum lies
    in (−1/3, 1). So the lag moves the uniform part β s E of β S:E with s = max c / 2 (not
    :func:`solve_flow`'s c̄/4) into the viscosity ν = 1 + βs/2: for the S of any distribution,
    E ↦ S:E has eigenvalues in [0, c/2] (0 ≤ ∫(p·E·p)²Ψ dθ ≤ c|E|²/2) at every point, so
    β(S:E − sE) is negative semi-definite and J's spectrum lies in [0, βs/(2ν)] ⊂ [0, 1):
    stable for every state, the roots of modulus at most √(βs/(2ν)) (0.41 at β = 0.8 and
    max c ≈ 1, the developed active-nematic state). That covers the kinetic theory's exact S,
    Bingham's, and the quadratic S = DD/c (on trace-free strains its S:E = D(D:E)/c has
    eigenvalues 0 and |m₂|²/(2c) ≤ c/2); a learned closure has the guarantee as far as it
    behaves like the S of a distribution.

    Cost: one forward and three inverse complex FFTs (the flow and its gradient) and two
    evaluations of the (prepared) closure, against about ten conjugate-gradient iterations of
    one FFT pair each for :func:`solve_flow`. Measured from the developed state at 64², 128²
    and 256², both solvers keep the accuracy-limited time step of the self-consistent solve
    (benchmarks/RESULTS.md).
    """
    closure, closure_params = prepare_closure(closure, closure_params, c, D)
    inputs = (params, c, D, closure_params)
    packed, viscosity, _ = _deviatoric_stress(closure, guess, inputs, jnp.max(c) / 2)
    u, grad_u = velocity_of_stress(packed, viscosity, params.L)
    strain = strain_components(grad_u)
    S_D, S_E = closure(closure_params, c, D, _trace_free(strain))
    return Flow(u, grad_u, S_D, S_E), strain


def stokes_iterations(
    params: ActiveFluidParams, c: Array, D: Array, closure: Closure, closure_params: Any = ()
) -> Array:
    """() number of fixed-point iterations :func:`solve_flow` takes (a diagnostic)."""
    problem = _strain_problem(params, c, D, closure, closure_params)
    x0 = jnp.zeros((2, *c.shape), D.dtype)
    return solve_fixed_point(
        problem.update, x0, problem.theta, problem.rtol, STOKES_MAX_ITERATIONS, problem.affine
    )[1]
