"""Solver core shared by ionscale's phase-field models: periodic spectral grid, a linearly
stabilised semi-implicit time stepper with adaptive steps, and streamed snapshot output.

A model (Cahn–Hilliard here; a dendrite model later) writes its evolution equation for a real
field u on a periodic box as

    ∂u/∂t = N(u),

and supplies, at each state, a non-negative linear operator P that is diagonal in Fourier space
(P̂(k) ≥ 0) and bounds the stiff part of N. One step of size Δt is

    (1 + Δt P̂) (û^{n+1} − û^n) = Δt N̂(u^n),                                        (1)

explicit in N with the implicit linear stabilising term Δt P (u^{n+1} − u^n) = O(Δt²): first
order in time, it has the fixed points of the PDE and damps the modes that make explicit Euler
unstable. For Cahn–Hilliard with a constant mobility M and P̂ = M k² (S + κ k²), (1) is the
stabilised semi-implicit Fourier-spectral scheme of Zhu, Chen, Shen & Tikare (Phys. Rev. E 60,
3564, 1999), whose free energy never increases for any Δt when S ≥ max|f''|/2 (Shen & Yang,
Discrete Contin. Dyn. Syst. 28, 1669, 2010); the Eyre-type linear stabilisation. With a
concentration-dependent mobility Zhu et al. treat M − M0 explicitly (see
:mod:`ionscale.phasefield.ch_model`).

Spatial derivatives are spectral on a uniform periodic grid (real FFTs, scipy.fft). Odd
derivatives (gradients) drop the Nyquist wavenumber of even-sized axes, the usual convention
that keeps derivatives of real fields real; even derivatives (k²) keep it.

Error control (step doubling; Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4)
--------------------------------------------------------------------------------
Each attempt takes one step of Δt (u₁) and two of Δt/2 (u₂) from uⁿ. The local error of the
first-order scheme (1) is O(Δt²), and u₂ − u₁ estimates the error of u₂ to leading order, so

    err = max|u₂ − u₁| / (atol + rtol · max|uⁿ − ⟨uⁿ⟩|)

measures it in the max norm relative to the current amplitude of the field's fluctuations
(plus an absolute floor atol). The attempt is accepted when err ≤ 1, the new state is admissible
for the model (e.g. a composition inside the range where f is defined) and, when energy control
is on, the model's energy did not increase beyond round-off. The state kept is the local
Richardson extrapolation 2u₂ − u₁, second order in Δt ("local extrapolation", ibid.; it conserves
whatever u₁ and u₂ conserve, e.g. mass), so err bounds its error conservatively; it measured
~3× more accurate than u₂ at equal cost in bench/bench_phasefield.py. The next step is
Δt · min(max_growth, max(min_shrink, safety · err^(−1/2))); a rejected attempt for energy or
admissibility halves Δt. Steps are shortened to land exactly on the requested output times.
A fixed-step mode (no error estimate, no rejection) exists to test the scheme's own stability.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.fft as sfft

from ionscale.io import add_dataset

if TYPE_CHECKING:
    import h5py


class PhaseFieldError(RuntimeError):
    """A phase-field run cannot continue (time step collapsed, field left its domain ...)."""


class SpectralGrid:
    """A uniform periodic grid with the wavevectors of its real FFT.

    Parameters
    ----------
    shape:
        Points per dimension (1 to 3 dimensions), each a positive integer.
    spacing:
        Grid spacing per dimension, in the model's length unit (one number: all dimensions).
    workers:
        Threads for scipy.fft.
    """

    def __init__(
        self, shape: Sequence[int], spacing: float | Sequence[float], workers: int = 1
    ) -> None:
        shape = tuple(shape)
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"grid: {len(shape)} dimensions given, expected 1, 2 or 3")
        for n in shape:
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
                raise ValueError(f"grid: {list(shape)} must be a positive integer per dimension")
        spacing = np.broadcast_to(np.asarray(spacing, dtype=float), (len(shape),)).copy()
        if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise ValueError(f"grid spacing {spacing.tolist()} must be positive")
        self.shape: tuple[int, ...] = tuple(int(n) for n in shape)
        self.spacing: np.ndarray = spacing
        self.ndim = len(shape)
        self.n_points = int(np.prod(self.shape))
        self.workers = max(1, int(workers))

        ks, ks_odd = [], []
        for axis, (n, h) in enumerate(zip(self.shape, spacing, strict=True)):
            last = axis == self.ndim - 1
            k = 2 * np.pi * (sfft.rfftfreq(n, d=h) if last else sfft.fftfreq(n, d=h))
            k_odd = k.copy()
            if n % 2 == 0:  # Nyquist mode: no real first derivative
                k_odd[-1 if last else n // 2] = 0.0
            view = [1] * self.ndim
            view[axis] = len(k)
            ks.append(k.reshape(view))
            ks_odd.append(k_odd.reshape(view))
        #: wavenumber components (broadcastable to the rfft shape), for even derivatives
        self.k: list[np.ndarray] = ks
        #: the same with the Nyquist wavenumber set to zero, for first derivatives
        self.k_odd: list[np.ndarray] = ks_odd
        self._ik_odd = [1j * k for k in ks_odd]
        #: |k|², full rfft shape
        self.k2: np.ndarray = sum(k**2 for k in ks) * np.ones(self.hat_shape)
        #: |k|, full rfft shape
        self.k_magnitude: np.ndarray = np.sqrt(self.k2)
        # Weights that turn sums over the half spectrum into sums over the full spectrum.
        n_last = self.shape[-1]
        w = np.full(n_last // 2 + 1, 2.0)
        w[0] = 1.0
        if n_last % 2 == 0:
            w[-1] = 1.0
        self.hermitian_weight: np.ndarray = np.broadcast_to(w, self.hat_shape)

    @property
    def hat_shape(self) -> tuple[int, ...]:
        """Shape of the real FFT of a field on this grid."""
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)

    @property
    def lengths(self) -> np.ndarray:
        """Box length per dimension (model length unit)."""
        return self.spacing * np.asarray(self.shape)

    def rfft(self, u: np.ndarray) -> np.ndarray:
        return sfft.rfftn(u, workers=self.workers)

    def irfft(self, u_hat: np.ndarray) -> np.ndarray:
        return sfft.irfftn(u_hat, s=self.shape, workers=self.workers)

    def gradient(self, u_hat: np.ndarray) -> list[np.ndarray]:
        """∂u/∂x_d in real space for each dimension d, from û."""
        return [self.irfft(ik * u_hat) for ik in self._ik_odd]

    def divergence_hat(self, fluxes: Sequence[np.ndarray]) -> np.ndarray:
        """Fourier transform of ∇·J from the real-space components of J."""
        terms = [self.rfft(j) for j in fluxes]
        if len(terms) != self.ndim:
            raise ValueError(f"{len(terms)} flux components for a {self.ndim}-D grid")
        out = terms[0]
        out *= self._ik_odd[0]
        for ik, term in zip(self._ik_odd[1:], terms[1:], strict=True):
            term *= ik
            out += term
        return out

    def spectral_mean(self, weights: np.ndarray | float, u_hat: np.ndarray) -> float:
        """⟨ g ⟩ over the box where ĝ(k) = weights(k) · |û(k)|² (Parseval), e.g. ⟨|∇u|²⟩."""
        total = np.sum(self.hermitian_weight * weights * self.power(u_hat))
        return float(total) / self.n_points**2

    @staticmethod
    def power(u_hat: np.ndarray) -> np.ndarray:
        """|û|² (without the square root of np.abs)."""
        return u_hat.real**2 + u_hat.imag**2


class SemiImplicitModel(Protocol):
    """What the stepper needs from a model (all in the model's dimensionless units)."""

    grid: SpectralGrid

    def split(self, u: np.ndarray, u_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
        """N̂(u) and the stabilising operator P̂ ≥ 0 at state u (see eq. 1)."""

    def energy(self, u: np.ndarray, u_hat: np.ndarray) -> float:
        """The Lyapunov functional the dynamics decreases (per unit volume)."""

    def inadmissible(self, u: np.ndarray) -> str | None:
        """None if u is a valid state, else why not (e.g. outside the domain of f)."""

    def diagnostics(self, u: np.ndarray, u_hat: np.ndarray) -> dict[str, float]:
        """Scalars recorded in the history at every accepted step."""


@dataclass(frozen=True)
class StepControl:
    """Time-step control of :func:`integrate` (times in the model's time unit).

    Parameters
    ----------
    rtol, atol:
        Local error tolerance, relative to the field's fluctuation amplitude and absolute
        (field units); see the module docstring.
    dt_initial:
        First step; None: 1e-6 of the final time (it grows by up to ``max_growth`` per step).
    dt_min:
        Smallest step before the run gives up; None: 1e-12 of the final time.
    dt_max:
        Largest step.
    adaptive:
        False: fixed steps of ``dt_initial`` with no error estimate and no rejection.
    energy_control:
        Reject steps that raise the energy by more than ``energy_rtol`` · max(1, |E|).
    extrapolate:
        Accept the local Richardson extrapolation 2u₂ − u₁ (second order) instead of u₂.
    max_steps:
        Accepted steps before the run stops with an error.
    """

    rtol: float = 1e-3
    atol: float = 1e-6
    dt_initial: float | None = None
    dt_min: float | None = None
    dt_max: float = np.inf
    safety: float = 0.9
    max_growth: float = 2.0
    min_shrink: float = 0.2
    adaptive: bool = True
    energy_control: bool = True
    energy_rtol: float = 1e-12
    max_steps: int = 1_000_000
    extrapolate: bool = True

    def __post_init__(self) -> None:
        if self.rtol <= 0 or self.atol < 0:
            raise ValueError(f"rtol {self.rtol} must be > 0 and atol {self.atol} >= 0")
        if not self.adaptive and not self.dt_initial:
            raise ValueError("fixed-step mode needs dt_initial")
        if self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")


@dataclass
class RunHistory:
    """Per accepted step: time, step size, energy and the model's diagnostics."""

    columns: dict[str, list[float]] = field(default_factory=dict)
    n_rejected_error: int = 0
    n_rejected_energy: int = 0
    n_rejected_admissible: int = 0
    wall_time_s: float = 0.0

    def append(self, row: Mapping[str, float]) -> None:
        for key, value in row.items():
            self.columns.setdefault(key, []).append(float(value))

    def array(self, key: str) -> np.ndarray:
        return np.asarray(self.columns[key])

    @property
    def n_steps(self) -> int:
        return max(len(self.columns.get("time", [])) - 1, 0)


def _advance(
    grid: SpectralGrid, u_hat: np.ndarray, n_hat: np.ndarray, p_hat: np.ndarray | float, dt: float
) -> np.ndarray:
    """One stabilised step, eq. (1), returning the new real field."""
    return grid.irfft(u_hat + dt * n_hat / (1.0 + dt * p_hat))


def integrate(
    model: SemiImplicitModel,
    u0: np.ndarray,
    t_final: float,
    control: StepControl,
    output_times: Sequence[float] = (),
    on_output: Callable[[float, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, RunHistory]:
    """Integrate ``model`` from ``u0`` at t = 0 to ``t_final``.

    ``on_output(t, u)`` is called at each time of ``output_times`` (0 ≤ t ≤ t_final; steps land
    on them exactly). Returns the final field and the history of accepted steps. Raises
    :class:`PhaseFieldError` when the step falls below ``dt_min`` or ``max_steps`` is exceeded.
    """
    if not (np.isfinite(t_final) and t_final > 0):
        raise ValueError(f"final time {t_final} must be positive")
    grid = model.grid
    u = np.array(u0, dtype=float)
    if u.shape != grid.shape:
        raise ValueError(f"initial field shape {u.shape} differs from the grid {grid.shape}")
    if (why := model.inadmissible(u)) is not None:
        raise ValueError(f"initial field is not admissible: {why}")
    outputs = sorted({float(t) for t in output_times})
    if outputs and (outputs[0] < 0 or outputs[-1] > t_final * (1 + 1e-12)):
        raise ValueError(f"output times must lie in [0, {t_final}]")
    stops = [t for t in outputs if t > 0]
    if not stops or stops[-1] < t_final:
        stops.append(t_final)
    dt_min = control.dt_min if control.dt_min is not None else 1e-12 * t_final
    dt = control.dt_initial if control.dt_initial else 1e-6 * t_final

    start = time.perf_counter()
    history = RunHistory()
    t = 0.0
    u_hat = grid.rfft(u)
    energy = model.energy(u, u_hat)
    history.append({"time": t, "dt": 0.0, "energy": energy, **model.diagnostics(u, u_hat)})
    if on_output and outputs and outputs[0] == 0.0:
        on_output(0.0, u)
    stop_index = 0
    n_hat, p_hat = model.split(u, u_hat)
    n_accepted = 0

    while stop_index < len(stops):
        target = stops[stop_index]
        step = min(dt, control.dt_max, target - t)
        lands = step >= (target - t) * (1 - 1e-12)
        if lands:
            step = target - t
        if control.adaptive:
            u1 = _advance(grid, u_hat, n_hat, p_hat, step)
            uh = _advance(grid, u_hat, n_hat, p_hat, step / 2)
            reason = model.inadmissible(uh) or model.inadmissible(u1)
            if reason is None:
                uh_hat = grid.rfft(uh)
                nh_hat, ph_hat = model.split(uh, uh_hat)
                u2 = _advance(grid, uh_hat, nh_hat, ph_hat, step / 2)
                reason = model.inadmissible(u2)
            if reason is not None:
                history.n_rejected_admissible += 1
                dt = step / 2
                _check_dt(dt, dt_min, t, reason)
                continue
            scale = control.atol + control.rtol * float(np.max(np.abs(u - u.mean())))
            err = float(np.max(np.abs(u2 - u1))) / scale if scale > 0 else 0.0
            factor = control.max_growth if err == 0 else control.safety / np.sqrt(err)
            factor = min(control.max_growth, max(control.min_shrink, factor))
            if err > 1.0:
                history.n_rejected_error += 1
                dt = step * factor
                _check_dt(dt, dt_min, t, f"local error {err:.3g} x tolerance")
                continue
            u_new = 2.0 * u2 - u1 if control.extrapolate else u2
            if control.extrapolate and (reason := model.inadmissible(u_new)) is not None:
                history.n_rejected_admissible += 1
                dt = step / 2
                _check_dt(dt, dt_min, t, reason)
                continue
            u_new_hat = grid.rfft(u_new)
            energy_new = model.energy(u_new, u_new_hat)
            if control.energy_control and energy_new > energy + control.energy_rtol * max(
                1.0, abs(energy)
            ):
                history.n_rejected_energy += 1
                dt = step / 2
                _check_dt(dt, dt_min, t, f"energy rose from {energy:.12g} to {energy_new:.12g}")
                continue
            dt = max(dt, step * factor) if lands else step * factor
        else:
            u_new = _advance(grid, u_hat, n_hat, p_hat, step)
            if (reason := model.inadmissible(u_new)) is not None:
                raise PhaseFieldError(f"t = {t:.6g}: fixed step {step:.3g} failed: {reason}")
            u_new_hat = grid.rfft(u_new)
            energy_new = model.energy(u_new, u_new_hat)
        t = target if lands else t + step
        u, u_hat, energy = u_new, u_new_hat, energy_new
        n_accepted += 1
        history.append({"time": t, "dt": step, "energy": energy, **model.diagnostics(u, u_hat)})
        if lands:
            if on_output and t in outputs:
                on_output(t, u)
            stop_index += 1
        if n_accepted >= control.max_steps and stop_index < len(stops):
            raise PhaseFieldError(
                f"reached max_steps = {control.max_steps} at t = {t:.6g} of {t_final:.6g}; "
                "raise the step limit or shorten the run"
            )
        if stop_index < len(stops):
            n_hat, p_hat = model.split(u, u_hat)
    history.wall_time_s = time.perf_counter() - start
    return u, history


def _check_dt(dt: float, dt_min: float, t: float, reason: str) -> None:
    if dt < dt_min:
        raise PhaseFieldError(
            f"time step fell below dt_min = {dt_min:.3g} at t = {t:.6g}; last rejection: {reason}"
        )


class FieldRecorder:
    """Streams snapshots of one field into an open HDF5 group as they are produced.

    Datasets ``<name>`` (n_snapshots, *grid) and ``time_<time_units>`` grow by one row per
    call, so a long run never holds all snapshots in memory. Times passed in the model's unit
    are multiplied by ``time_scale`` before they are stored.
    """

    def __init__(
        self,
        group: h5py.Group,
        name: str,
        shape: Sequence[int],
        units: str,
        time_units: str = "s",
        time_scale: float = 1.0,
        description: str = "",
    ) -> None:
        self.field = add_dataset(
            group,
            name,
            np.empty((0, *shape)),
            units,
            description,
            maxshape=(None, *shape),
            chunks=(1, *shape),
        )
        self.time = add_dataset(
            group,
            f"time_{time_units}",
            np.empty(0),
            time_units,
            "time of each snapshot",
            maxshape=(None,),
            chunks=(64,),
        )
        self.time_scale = time_scale

    def __call__(self, t: float, u: np.ndarray) -> None:
        n = self.field.shape[0]
        self.field.resize(n + 1, axis=0)
        self.field[n] = u
        self.time.resize(n + 1, axis=0)
        self.time[n] = t * self.time_scale

    @property
    def count(self) -> int:
        return int(self.field.shape[0])


def write_history(
    group: h5py.Group,
    columns: Mapping[str, np.ndarray],
    units: Mapping[str, str],
    descriptions: Mapping[str, str] | None = None,
) -> None:
    """Write history columns (equal lengths) as datasets with their units."""
    descriptions = descriptions or {}
    for name, values in columns.items():
        add_dataset(group, name, np.asarray(values), units[name], descriptions.get(name, ""))
