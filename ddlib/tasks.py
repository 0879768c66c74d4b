"""Multi-index tasks: x ~ N(0, I_d), y = g(Ux) + noise, with U (r x d, orthonormal rows) known.

The link g is looked up by name in a registry of ``Link`` objects (``register_link`` adds a
reader's own): the function on latent coordinates, its information exponent, its latent expected
Hessian E[grad^2 g] and the closed-form part of its population stage-1 gradient beyond He2
(what ``ddlib.theory`` needs).  Built in: the book's ``he2``, ``aniso`` and ``he3`` (``LINKS``) and
``quad``, a quadratic link whose expected Hessian has condition number 10.

Every built-in link has E g = 0, E grad g = 0 (information exponent >= 2) and Var g = 1, so a
normalised MSE of 1.0 is the zero predictor.  ``he3`` has information exponent 3: its
expected Hessian is zero and one gradient step cannot find U (the negative control).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from .registry import Registry
from .seeds import check_seed, generator
from .validation import (check_device, check_dtype, check_float, check_int, check_tensor, peak, require_finite,
                         short_repr)

__all__ = ["MultiIndexTask", "LINKS", "BUILTIN_LINKS", "Link", "LinkMoments", "register_link", "unregister_link",
           "get_link", "registered_links", "no_part_beyond_he2", "link_moments", "check_task", "ANISO_C",
           "QUAD_CONDITION"]

LINKS = ("he2", "aniso", "he3")  # the book's links (every notebook runs on these)
ANISO_C = 0.3  # weight of the He4 term in the ``aniso`` link
QUAD_CONDITION = 10.0  # condition number of the ``quad`` link's expected Hessian (r >= 2)
MAX_NOISE = 1e150  # beyond it the labels' variance 1 + noise^2 overflows float64
_PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # the standard normal density at 0 (as in ddlib.theory)


def _he2(z: torch.Tensor) -> torch.Tensor:
    return z * z - 1.0


def _he3(z: torch.Tensor) -> torch.Tensor:
    return z ** 3 - 3.0 * z


def _he4(z: torch.Tensor) -> torch.Tensor:
    z2 = z * z
    return z2 * z2 - 6.0 * z2 + 3.0


# ------------------------------------------------------------------------------------ the registry
def no_part_beyond_he2(W: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``Link.beyond_he2`` of a link with no even Hermite part of degree >= 4 (odd parts add
    nothing to the population stage-1 gradient): zeros of W's shape."""
    return torch.zeros_like(W)


def _uniform_weights(r: int) -> torch.Tensor:
    return torch.full((r,), 1.0 / math.sqrt(r), dtype=torch.float64)


@dataclass(frozen=True)
class Link:
    """A link g on the latent coordinates z = Ux in R^r, and what ddlib needs to know about it.

    A registered link (``register_link``) is usable as ``MultiIndexTask(link=name)``.  The book's
    conventions assume E g = 0 and Var g = 1 for z ~ N(0, I_r) (so a normalised test MSE of 1 is
    the zero predictor; check a new link with ``link_moments``) and E grad g = 0 (information
    exponent >= 2).

    Attributes:
        name: the registry key.
        g: ``Z (n, r) -> (n,)``, in Z's dtype, written with torch operations (differentiable in Z).
        information_exponent: the degree of g's first non-zero Hermite coefficient.
        latent_hessian: ``r -> E[grad^2 g(z)]`` (r x r, float64) in closed form: it fixes g's He2
            part, ``(z^T A z - tr A) / 2``, hence the task's expected Hessian H = U^T A U.
        beyond_he2: ``(W, U) -> E[(g - g_He2)(Ux) relu'(w_j . x) x]`` for unit-norm rows W (L, d)
            and U (r, d), in W's dtype: what the population stage-1 gradient needs beyond the He2
            part (``no_part_beyond_he2`` when g has no even Hermite part of degree >= 4; odd parts
            contribute nothing).  None: no closed form is known, and ``ddlib.theory`` refuses the link.
        weights: ``r -> (r,)`` the per-coordinate weights lambda (``MultiIndexTask.link_weights``);
            default ones / sqrt(r).
        description: one line, for documentation.
    """

    name: str
    g: Callable[[torch.Tensor], torch.Tensor]
    information_exponent: int
    latent_hessian: Callable[[int], torch.Tensor]
    beyond_he2: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = no_part_beyond_he2
    weights: Callable[[int], torch.Tensor] = _uniform_weights
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Link: name must be an identifier such as 'he2', got {short_repr(self.name)}")
        object.__setattr__(self, "information_exponent",
                           check_int("Link: information_exponent", self.information_exponent, min_value=1))
        for attr in ("g", "latent_hessian", "weights") + (() if self.beyond_he2 is None else ("beyond_he2",)):
            if not callable(getattr(self, attr)):
                raise TypeError(f"Link: {attr} must be callable, got {type(getattr(self, attr)).__name__}")
        if not isinstance(self.description, str):
            raise TypeError(f"Link: description must be a string, got {type(self.description).__name__}")

    @property
    def population_closed_form(self) -> bool:
        """Whether ``ddlib.theory.population_stage1_gradient`` knows this link's closed form."""
        return self.beyond_he2 is not None


LINK_REGISTRY: Registry[Link] = Registry("link")  # built-in links first, then a reader's


def register_link(link: Link, *, replace: bool = False) -> Link:
    """Add ``link`` to the registry, so that ``MultiIndexTask(link=link.name)`` uses it.

    A name already registered is refused unless ``replace``; the built-in links
    (``BUILTIN_LINKS``) are never replaced, so every recorded number stays reproducible.
    The registry lives in the process: a task saved with a reader's link (``params()``) is rebuilt
    only where that link is registered again.
    """
    if not isinstance(link, Link):
        raise TypeError(f"link must be a ddlib.tasks.Link, got {type(link).__name__}")
    return LINK_REGISTRY.register(link.name, link, replace=replace)


def unregister_link(name: str) -> None:
    """Remove a reader's link from the registry (the built-in links stay)."""
    get_link(name)
    LINK_REGISTRY.unregister(name)


def registered_links() -> tuple[str, ...]:
    """The names of every registered link, built-in ones first."""
    return tuple(LINK_REGISTRY.names())


def get_link(name: Any) -> Link:
    """The registered link called ``name``, or a ValueError listing the links."""
    if name not in LINK_REGISTRY:
        others = [n for n in LINK_REGISTRY if n not in LINKS]
        raise ValueError(f"link must be one of {list(LINKS)}, got {short_repr(name)} (or another registered link: "
                         f"{others}; ddlib.tasks.register_link adds one)")
    return LINK_REGISTRY.lookup(name)


# ------------------------------------------------------------------------------- built-in links
def _aniso_weights(r: int) -> torch.Tensor:
    lam = torch.linspace(1.0, 2.0, r, dtype=torch.float64)
    return lam / lam.norm()


def _quad_weights(r: int) -> torch.Tensor:
    lam = QUAD_CONDITION ** -torch.linspace(0.0, 1.0, r, dtype=torch.float64)
    return lam / lam.norm()


def _weighted_he2(Z: torch.Tensor, weights: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """sum_k lambda_k He2(z_k) / sqrt(2): variance |lambda|^2 = 1."""
    return (_he2(Z) * weights(Z.shape[1]).to(Z)).sum(dim=1) / math.sqrt(2.0)


def _aniso_g(Z: torch.Tensor) -> torch.Tensor:
    quad = _weighted_he2(Z, _aniso_weights)
    return math.sqrt(1 - ANISO_C ** 2) * quad + ANISO_C * _he4(Z[:, 0]) / math.sqrt(24.0)


def _aniso_he4_part(W: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """c E[He4(u_1 . x) relu'(w . x) x] / sqrt(24) = c phi(0) (3 rho^4 w - 4 rho^3 u_1) / sqrt(24),
    rho = u_1 . w (derived in ``ddlib.theory.population_stage1_gradient``)."""
    u = U[0].to(W)
    rho = (W @ u)[:, None]
    return ANISO_C / math.sqrt(24.0) * _PHI0 * (3 * rho ** 4 * W - 4 * rho ** 3 * u)


_BUILTIN = (
    Link("he2", lambda Z: _he2(Z).sum(dim=1) / math.sqrt(2 * Z.shape[1]), 2,
         lambda r: math.sqrt(2.0 / r) * torch.eye(r, dtype=torch.float64),
         description="(2r)^(-1/2) sum_k He2(z_k): isotropic H = sqrt(2/r) P_U"),
    Link("aniso", _aniso_g, 2,
         lambda r: torch.diag(math.sqrt(1 - ANISO_C ** 2) * math.sqrt(2.0) * _aniso_weights(r)),
         beyond_he2=_aniso_he4_part, weights=_aniso_weights,
         description="sqrt(1 - c^2) sum_k lambda_k He2(z_k)/sqrt(2) + c He4(z_1)/sqrt(24), lambda ~ linspace(1, 2)"),
    Link("he3", lambda Z: _he3(Z[:, 0]) / math.sqrt(6.0), 3,
         lambda r: torch.zeros(r, r, dtype=torch.float64),  # E He3'' = 6 E z = 0
         description="He3(z_1)/sqrt(6): information exponent 3, H = 0 (the negative control)"),
    Link("quad", lambda Z: _weighted_he2(Z, _quad_weights), 2,
         lambda r: torch.diag(math.sqrt(2.0) * _quad_weights(r)), weights=_quad_weights,
         description="sum_k lambda_k He2(z_k)/sqrt(2), lambda_k ~ 10^(-(k-1)/(r-1)): H with condition number 10 "
                     "(he2 for r = 1)"),
)
BUILTIN_LINKS = tuple(link.name for link in _BUILTIN)
for _link in _BUILTIN:
    LINK_REGISTRY.register(_link.name, _link, builtin=True)


@dataclass(frozen=True)
class LinkMoments:
    """Monte-Carlo moments of a link on z ~ N(0, I_r), each with its standard error: what a new
    link should satisfy (mean 0, variance 1, the closed-form latent Hessian: ``hessian_z`` is the
    largest ``|Stein estimate - closed form|`` over the entries, in standard errors)."""

    mean: float
    mean_se: float
    variance: float
    variance_se: float
    hessian_z: float
    n: int


def link_moments(name: str, r: int, *, n: int = 200_000, seed: int = 0) -> LinkMoments:
    """E g, Var g and the Stein estimate E[g (z z^T - I)] of ``latent_hessian`` against the closed
    form, from n samples (a check for a reader's new link before registering it for real work)."""
    link = get_link(name)
    r = check_int("r", r, min_value=1)
    n = check_int("n", n, min_value=2)
    Z = torch.randn(n, r, generator=generator(seed), dtype=torch.float64)
    y = link.g(Z).detach()
    if y.shape != (n,):
        raise ValueError(f"link {name!r}: g must map Z (n, r) to (n,), got shape {tuple(y.shape)}")
    require_finite(f"link {name!r}: g returned non-finite values on Gaussian inputs", y)
    c = (y - y.mean()) ** 2
    terms = y[:, None, None] * (Z[:, :, None] * Z[:, None, :] - torch.eye(r, dtype=torch.float64))
    se = terms.std(0) / math.sqrt(n)
    z = (terms.mean(0) - link.latent_hessian(r).to(terms)).abs() / se.clamp_min(1e-300)
    out = LinkMoments(float(y.mean()), float(y.std() / math.sqrt(n)), float(c.mean()),
                      float(c.std() / math.sqrt(n)), float(z.max()), n)
    require_finite(f"link_moments: the moments of link {name!r} overflow float64 (max |g| = {peak(y):.3g})",
                   *(getattr(out, f) for f in ("mean", "mean_se", "variance", "variance_se", "hessian_z")))
    return out


@dataclass(frozen=True)
class MultiIndexTask:
    """A multi-index regression task with known subspace U and expected Hessian H.

    Args:
        d: input dimension.
        r: intrinsic dimension, 1 <= r <= d.
        link: the name of a registered link (``registered_links()``: ``LINKS``, ``quad`` and any a
            reader registered).
        noise: standard deviation of the Gaussian label noise, in [0, ``MAX_NOISE``].
        seed: seed of U (Q factor of a d x r Gaussian matrix), in [0, 2^63).
    """

    d: int
    r: int
    link: str = "he2"
    noise: float = 0.0
    seed: int = 0
    U: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = check_int("d", self.d, min_value=1)
        r = check_int("r", self.r, min_value=1)
        if r > d:
            raise ValueError(f"r must satisfy 1 <= r <= d={d}, got r={r}")
        get_link(self.link)
        noise = check_float("noise", self.noise, min_value=0.0, max_value=MAX_NOISE)
        seed = check_seed("seed", self.seed)
        # Store the validated Python numbers (a numpy int would otherwise leak into params()/JSON).
        for name, value in (("d", d), ("r", r), ("noise", noise), ("seed", seed)):
            object.__setattr__(self, name, value)
        A = torch.randn(d, r, generator=generator(seed), dtype=torch.float64)
        Q, R = torch.linalg.qr(A)
        Q = Q * torch.sign(torch.diagonal(R))  # unique QR: deterministic across LAPACKs
        object.__setattr__(self, "U", Q.T.contiguous())

    # ------------------------------------------------------------------ link
    @property
    def link_spec(self) -> Link:
        """The registered ``Link`` this task's ``link`` names."""
        return get_link(self.link)

    @property
    def link_weights(self) -> torch.Tensor:
        """The link's per-coordinate weights lambda (``aniso``: linspace(1, 2, r) normalised; ``quad``:
        geometric from 1 to 1/10, normalised); ones/sqrt(r) otherwise."""
        return self.link_spec.weights(self.r)

    def g(self, Z: torch.Tensor) -> torch.Tensor:
        """The link g applied to latent coordinates Z = X U^T (n x r)."""
        return self.link_spec.g(Z)

    def f(self, X: torch.Tensor) -> torch.Tensor:
        """Noiseless target f*(x) = g(Ux), in X's dtype (float32 or float64; differentiable in X)."""
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be a torch tensor of shape (n, d={self.d}), got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must be a tensor of shape (n, d={self.d}), got {tuple(X.shape)}")
        y = self.g(check_tensor("X", X) @ self.U.to(X).T)
        if not isinstance(y, torch.Tensor) or y.shape != X.shape[:1]:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"MultiIndexTask.f: the link {self.link!r} must map Z (n, r) to one label per row, "
                             f"shape ({X.shape[0]},), got {got}")
        require_finite(lambda: f"MultiIndexTask.f: the targets overflow {X.dtype}: the inputs are too large "
                               f"(max |X| = {peak(X):.3g}) for the polynomial link {self.link!r}", y)
        return y

    def latent_hessian(self) -> torch.Tensor:
        """E[grad^2 g(z)] for z ~ N(0, I_r), in closed form (r x r)."""
        return self.link_spec.latent_hessian(self.r)

    def expected_hessian(self) -> torch.Tensor:
        """H = E[grad^2 f*(x)] = U^T E[grad^2 g] U (d x d), in closed form."""
        return self.U.T @ self.latent_hessian() @ self.U

    # ---------------------------------------------------------------- sample
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float64,
               device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n i.i.d. pairs (X, y); the same (task, n, seed) gives bit-identical tensors.

        Drawn in float64, then converted to ``dtype`` (float32 or float64) on ``device``.
        """
        n = check_int("n", n, min_value=1)
        to = dict(dtype=check_dtype("dtype", dtype), device=check_device("device", device))
        gen = generator(seed)
        X = torch.randn(n, self.d, generator=gen, dtype=torch.float64)
        y = self.f(X)
        if self.noise > 0:
            y = y + self.noise * torch.randn(n, generator=gen, dtype=torch.float64)
        X, y = X.to(**to), y.to(**to)
        require_finite(f"MultiIndexTask.sample: the labels overflow {to['dtype']} (noise={self.noise!r})", y)
        return X, y

    @property
    def label_variance(self) -> float:
        """Var y = Var g + noise^2 = 1 + noise^2."""
        return 1.0 + self.noise ** 2

    def params(self) -> dict:
        """The constructor arguments, for provenance records."""
        return {"d": self.d, "r": self.r, "link": self.link, "noise": self.noise, "seed": self.seed}


def check_task(task: Any, *, net_d: Optional[int] = None) -> MultiIndexTask:
    """``task`` if it is a MultiIndexTask -- of a network's input dimension ``net_d``, when given."""
    if not isinstance(task, MultiIndexTask):
        raise TypeError(f"task must be a MultiIndexTask, got {type(task).__name__}")
    if net_d is not None and net_d != task.d:
        raise ValueError(f"net has input dimension d={net_d} but the task has d={task.d}")
    return task
