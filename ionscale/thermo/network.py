"""The integrable neural network for the free energy of Li content.

Teichert, Natarajan, Van der Ven & Garikipati, "Machine learning materials physics: Integrable
deep neural networks enable scale bridging by learning free energy functions", Comput. Methods
Appl. Mech. Eng. 353, 201–216 (2019). The free energy per site is a network of x,

    f(x) = h_θ(x) − h_θ(0) + s(x),       s(x) = k_B T [x ln x + (1 − x) ln(1 − x)]  (optional),

trained so that its derivative ∂f/∂x (taken by autograd) fits the chemical-potential data
μ_i ± σ_i from Monte Carlo, while f(1) fits the end member's formation energy. f(0) = 0 holds by
construction: the lattice phase's own empty cell (with a separate host phase at x = 0 the
free-energy rule shifts it by that cell's energy against the host and takes the envelope:
:func:`ionscale.thermo.analysis.envelope_with_host_phase`). Because μ and ∂²f/∂x² are
derivatives of the same network, f, μ and ∂²f/∂x² are exactly consistent: μ integrates to f, and
the spinodal (∂²f/∂x² < 0) is that of f. The ideal configurational entropy term s(x) carries the
logarithmic divergence of μ at x → 0, 1 that a smooth network cannot; whether it helps is
decided per temperature by the validation error (``form = "auto"``). Everything runs in float64.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ionscale.settings import default
from ionscale.units import BOLTZMANN_eV_K

log = logging.getLogger(__name__)

FORMS = ("auto", "ideal", "plain")
ACTIVATIONS = ("tanh", "softplus")


class FreeEnergyDataError(ValueError):
    """μ data that cannot define a free energy (too few points, non-finite values, ...)."""


@dataclass
class NetworkSettings:
    """Architecture and training of the integrable network.

    Parameters
    ----------
    width, depth:
        Hidden layer width and number of hidden layers of h_θ.
    activation:
        ``tanh`` or ``softplus`` (both smooth, so ∂²f/∂x² exists everywhere).
    form:
        ``ideal`` (network + ideal configurational entropy), ``plain`` (network only) or
        ``auto`` (train both, keep the lower validation RMSE of μ).
    adam_steps, learning_rate:
        Adam steps and initial learning rate (decays tenfold over the run).
    lbfgs_steps:
        L-BFGS iterations polishing the Adam result (0: none).
    anchor_weight:
        Weight of the f(1) term relative to the mean squared normalised μ residual.
    validation_fraction:
        Share of μ points held out for the validation RMSE (the end points are always kept).
    sigma_floor_eV:
        Added in quadrature to each μ uncertainty (eV), so no point gets infinite weight.
    n_bootstrap:
        Networks retrained on μ data resampled within their errors; their spread is the stated
        uncertainty of the f, μ, ∂²f/∂x² tables (0: none).
    seed:
        Seed of initialisation, split and bootstrap.
    """

    width: int = default("thermo.network.width")
    depth: int = default("thermo.network.depth")
    activation: str = default("thermo.network.activation")
    form: str = default("thermo.network.form")
    adam_steps: int = default("thermo.network.adam_steps")
    learning_rate: float = default("thermo.network.learning_rate")
    lbfgs_steps: int = default("thermo.network.lbfgs_steps")
    anchor_weight: float = default("thermo.network.anchor_weight")
    validation_fraction: float = default("thermo.network.validation_fraction")
    sigma_floor_eV: float = default("thermo.network.sigma_floor_eV")
    n_bootstrap: int = default("thermo.network.n_bootstrap")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"unknown network form {self.form!r}; known: {FORMS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {ACTIVATIONS}")


def _torch():
    import torch

    return torch


class IntegrableFreeEnergy:
    """f(x) (eV/site) as a torch network with exact autograd derivatives.

    Parameters
    ----------
    width, depth, activation:
        Architecture of h_θ.
    ideal_entropy:
        Add k_B T [x ln x + (1 − x) ln(1 − x)].
    temperature_K:
        Temperature of the ideal term (K).
    energy_scale_eV:
        Output scale of h_θ (eV), so that the weights are O(1).
    seed:
        Seed of the weight initialisation.
    """

    def __init__(
        self,
        width: int,
        depth: int,
        activation: str,
        ideal_entropy: bool,
        temperature_K: float,
        energy_scale_eV: float,
        seed: int = 0,
    ) -> None:
        torch = _torch()
        self.config = dict(
            width=int(width),
            depth=int(depth),
            activation=activation,
            ideal_entropy=bool(ideal_entropy),
            temperature_K=float(temperature_K),
            energy_scale_eV=float(energy_scale_eV),
        )
        gen = torch.Generator().manual_seed(int(seed))
        act = {"tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus}[activation]
        layers: list[Any] = []
        n_in = 1
        for _ in range(depth):
            layers += [torch.nn.Linear(n_in, width, dtype=torch.float64), act()]
            n_in = width
        layers.append(torch.nn.Linear(n_in, 1, dtype=torch.float64))
        self.net = torch.nn.Sequential(*layers)
        with torch.no_grad():  # seeded initialisation, independent of torch's global RNG
            for p in self.net.parameters():
                bound = 1.0 / np.sqrt(p.shape[-1]) if p.ndim == 2 else 0.1
                p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
        self.kT = BOLTZMANN_eV_K * float(temperature_K)

    # -- the function -----------------------------------------------------------------------
    def _h(self, x: Any) -> Any:
        return self.net((2.0 * x - 1.0).unsqueeze(-1)).squeeze(-1) * self.config["energy_scale_eV"]

    def f_torch(self, x: Any) -> Any:
        """f(x) for a float64 tensor x (differentiable)."""
        torch = _torch()
        f = self._h(x) - self._h(torch.zeros_like(x))
        if self.config["ideal_entropy"]:
            # x ln x with the log argument clamped: exact for 0 < x < 1, and 0 (its limit) at the
            # end points, where the anchor f(1) is evaluated
            tiny = torch.finfo(torch.float64).tiny
            y = 1 - x
            f = f + self.kT * (x * torch.log(x.clamp(min=tiny)) + y * torch.log(y.clamp(min=tiny)))
        return f

    def derivatives_torch(self, x: Any, create_graph: bool = False) -> tuple[Any, Any, Any]:
        """(f, ∂f/∂x, ∂²f/∂x²) by autograd at tensor x."""
        torch = _torch()
        x = x.detach().clone().requires_grad_(True)
        f = self.f_torch(x)
        (mu,) = torch.autograd.grad(f.sum(), x, create_graph=True)
        (d2f,) = torch.autograd.grad(mu.sum(), x, create_graph=create_graph)
        return f, mu, d2f

    def evaluate(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(f eV/site, μ eV, ∂²f/∂x² eV/site) as numpy arrays at x (0 < x < 1 with the ideal
        term: μ diverges at the end points)."""
        torch = _torch()
        xt = torch.as_tensor(np.atleast_1d(np.asarray(x, dtype=float)), dtype=torch.float64)
        f, mu, d2f = self.derivatives_torch(xt)
        return tuple(a.detach().numpy().copy() for a in (f, mu, d2f))  # type: ignore[return-value]

    def value(self, x: Any) -> np.ndarray:
        """f (eV/site) at x as a numpy array, without derivatives (finite at x = 0 and 1)."""
        torch = _torch()
        xt = torch.as_tensor(np.atleast_1d(np.asarray(x, dtype=float)), dtype=torch.float64)
        with torch.no_grad():
            return self.f_torch(xt).numpy().copy()

    # -- persistence ------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights as numpy arrays, keyed by torch's state_dict names."""
        return {k: v.detach().numpy().copy() for k, v in self.net.state_dict().items()}

    @classmethod
    def from_arrays(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> IntegrableFreeEnergy:
        """Rebuild a network from :attr:`config` and :meth:`state_arrays` (e.g. read from HDF5)."""
        torch = _torch()
        model = cls(**config)
        model.net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()})
        return model


@dataclass
class FitResult:
    """One trained network and how well it fits."""

    model: IntegrableFreeEnergy
    form: str
    rmse_train_eV: float
    rmse_validation_eV: float
    anchor_residual_eV: float
    train_index: np.ndarray
    validation_index: np.ndarray
    x: np.ndarray  # the cleaned, sorted μ data the indices refer to
    mu: np.ndarray
    sigma: np.ndarray
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    bootstrap: list[IntegrableFreeEnergy] = field(default_factory=list)


def merge_pinned_points(
    x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, x_tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge runs of points (sorted by x) whose x agree within ``x_tolerance``.

    An ordered phase of a finite cell is a line compound: VCSGC pins it at one x over a window
    of μ (the jump of ∂F/∂x across the compound), so several points share x with different μ.
    A smooth f cannot pass through that vertical segment; what the data say is "μ anywhere in
    [μ_lo, μ_hi] at this x". The run becomes one point at the mean x with μ at the middle of
    the window and σ = half its width ⊕ the largest individual σ.
    """
    groups: list[list[int]] = []
    for i in range(len(x)):
        if groups and x[i] - x[groups[-1][0]] <= x_tolerance:
            groups[-1].append(i)
        else:
            groups.append([i])
    xm, mm, sm = [], [], []
    for g in groups:
        lo, hi = float(np.min(mu[g] - sigma[g])), float(np.max(mu[g] + sigma[g]))
        xm.append(float(np.mean(x[g])))
        if len(g) == 1:
            mm.append(float(mu[g[0]]))
            sm.append(float(sigma[g[0]]))
        else:
            mm.append(0.5 * (lo + hi))
            sm.append(0.5 * (hi - lo))
    return np.array(xm), np.array(mm), np.array(sm)


def clean_mu_data(
    x: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    temperature_K: float,
    x_tolerance: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop points at x ≤ 0 or x ≥ 1 (saturated scans: μ is infinite there) or with non-finite
    values, warning with their values; sort by x; merge points pinned at one x (within
    ``x_tolerance``, :func:`merge_pinned_points`). At least 3 points must remain."""
    x, mu, sigma = (np.asarray(a, dtype=float) for a in (x, mu, sigma))
    ok = (x > 0) & (x < 1) & np.isfinite(mu) & np.isfinite(sigma) & np.isfinite(x)
    if not ok.all():
        warnings.warn(
            f"T = {temperature_K} K: dropping μ data at x = {np.round(x[~ok], 4).tolist()} "
            "(saturated at x = 0 or 1, or non-finite μ/σ)",
            stacklevel=2,
        )
    order = np.argsort(x[ok], kind="stable")
    x, mu, sigma = x[ok][order], mu[ok][order], sigma[ok][order]
    if x_tolerance > 0:
        n_before = len(x)
        x, mu, sigma = merge_pinned_points(x, mu, sigma, x_tolerance)
        if len(x) < n_before:
            log.info(
                "T = %g K: %d μ points pinned at shared x merged into windows",
                temperature_K,
                n_before - len(x),
            )
    if len(x) < 3:
        raise FreeEnergyDataError(
            f"T = {temperature_K} K: {len(x)} usable μ(x) points; at least 3 are needed"
        )
    return x, mu, sigma


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n < 5 or fraction <= 0:
        return np.arange(n), np.array([], dtype=int)
    inner = np.arange(1, n - 1)  # end points stay in training (no validation by extrapolation)
    rng = np.random.default_rng(seed)
    n_val = min(len(inner) - 1, max(1, round(fraction * n)))
    val = np.sort(rng.choice(inner, size=n_val, replace=False))
    return np.setdiff1d(np.arange(n), val), val


def train_network(
    x: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    f_end_eV: float,
    temperature_K: float,
    settings: NetworkSettings,
    ideal_entropy: bool,
    seed: int | None = None,
) -> IntegrableFreeEnergy:
    """Fit one network: ∂f/∂x to μ ± σ (σ ⊕ floor) and f(1) to ``f_end_eV``."""
    torch = _torch()
    seed = settings.seed if seed is None else seed
    scale = float(max(np.std(mu), BOLTZMANN_eV_K * temperature_K, 0.01))
    model = IntegrableFreeEnergy(
        settings.width,
        settings.depth,
        settings.activation,
        ideal_entropy,
        temperature_K,
        scale,
        seed,
    )
    xt = torch.as_tensor(x, dtype=torch.float64)
    mut = torch.as_tensor(mu, dtype=torch.float64)
    st = torch.as_tensor(np.hypot(sigma, settings.sigma_floor_eV), dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    s_end = settings.sigma_floor_eV

    def loss_fn() -> Any:
        xg = xt.clone().requires_grad_(True)
        f = model.f_torch(xg)
        (pred,) = torch.autograd.grad(f.sum(), xg, create_graph=True)
        chi2 = torch.mean(((pred - mut) / st) ** 2)
        anchor = ((model.f_torch(one)[0] - f_end_eV) / s_end) ** 2
        return chi2 + settings.anchor_weight * anchor

    params = list(model.net.parameters())
    opt = torch.optim.Adam(params, lr=settings.learning_rate)
    gamma = 0.1 ** (1.0 / max(settings.adam_steps, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    for _ in range(settings.adam_steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        sched.step()
    if settings.lbfgs_steps > 0:
        lbfgs = torch.optim.LBFGS(
            params,
            max_iter=settings.lbfgs_steps,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-12,
        )

        def closure() -> Any:
            lbfgs.zero_grad()
            val = loss_fn()
            val.backward()
            return val

        lbfgs.step(closure)
    return model


def _rmse(model: IntegrableFreeEnergy, x: np.ndarray, mu: np.ndarray) -> float:
    if len(x) == 0:
        return float("nan")
    return float(np.sqrt(np.mean((model.evaluate(x)[1] - mu) ** 2)))


def fit_free_energy(
    x: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    f_end_eV: float,
    temperature_K: float,
    settings: NetworkSettings,
    x_tolerance: float = 0.0,
) -> FitResult:
    """Clean the μ data, train the configured form(s), keep the better one, bootstrap.

    Parameters
    ----------
    x, mu, sigma:
        Li fractions, μ (eV per Li vs Li metal) and its standard errors (eV).
    f_end_eV:
        Formation energy per site of the x = 1 end member (eV/site), the anchor of f(1).
    temperature_K:
        Temperature of the data (K).
    x_tolerance:
        Points closer in x than this are one pinned state (:func:`merge_pinned_points`); the
        workflow passes half a site of the Monte Carlo cell, 0.5/N.
    """
    x, mu, sigma = clean_mu_data(x, mu, sigma, temperature_K, x_tolerance)
    train, val = _split(len(x), settings.validation_fraction, settings.seed)
    forms = ["ideal", "plain"] if settings.form == "auto" else [settings.form]
    candidates: dict[str, dict[str, float]] = {}
    models: dict[str, IntegrableFreeEnergy] = {}
    for form in forms:
        model = train_network(
            x[train],
            mu[train],
            sigma[train],
            f_end_eV,
            temperature_K,
            settings,
            ideal_entropy=form == "ideal",
        )
        rmse_t, rmse_v = _rmse(model, x[train], mu[train]), _rmse(model, x[val], mu[val])
        candidates[form] = {"rmse_train_eV": rmse_t, "rmse_validation_eV": rmse_v}
        log.info(
            "T = %g K, form %s: RMSE(mu) train %.4g eV, validation %.4g eV",
            temperature_K,
            form,
            rmse_t,
            rmse_v,
        )
        models[form] = model
    form = forms[0]
    if len(forms) == 2:
        key = "rmse_validation_eV" if len(val) else "rmse_train_eV"
        # the ideal-entropy form carries the right asymptotics at x → 0, 1, which interior
        # validation points cannot see: the plain network must beat it by more than the typical
        # μ uncertainty to be chosen
        noise = float(np.mean(np.hypot(sigma, settings.sigma_floor_eV)))
        if candidates["plain"][key] < candidates["ideal"][key] - noise:
            form = "plain"
    model = models[form]
    anchor_residual = float(model.value([1.0])[0] - f_end_eV)
    result = FitResult(
        model=model,
        form=form,
        rmse_train_eV=candidates[form]["rmse_train_eV"],
        rmse_validation_eV=candidates[form]["rmse_validation_eV"],
        anchor_residual_eV=anchor_residual,
        train_index=train,
        validation_index=val,
        x=x,
        mu=mu,
        sigma=sigma,
        candidates=candidates,
    )
    rng = np.random.default_rng(settings.seed + 1)
    for b in range(settings.n_bootstrap):
        mu_b = mu[train] + rng.standard_normal(len(train)) * sigma[train]
        result.bootstrap.append(
            train_network(
                x[train],
                mu_b,
                sigma[train],
                f_end_eV,
                temperature_K,
                settings,
                ideal_entropy=form == "ideal",
                seed=settings.seed + 100 + b,
            )
        )
    return result


def regular_solution(x: np.ndarray, omega_eV: float, temperature_K: float):
    """Regular solution f = Ωx(1−x) + kT[x ln x + (1−x) ln(1−x)]: (f, μ, ∂²f/∂x²) in eV."""
    x = np.asarray(x, dtype=float)
    kT = BOLTZMANN_eV_K * temperature_K
    f = omega_eV * x * (1 - x) + kT * (x * np.log(x) + (1 - x) * np.log(1 - x))
    mu = omega_eV * (1 - 2 * x) + kT * np.log(x / (1 - x))
    d2f = -2 * omega_eV + kT / (x * (1 - x))
    return f, mu, d2f
