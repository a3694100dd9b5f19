r"""Stop events of a particle run, the terminal voltage they use, and locating an event.

Terminal voltage: for a uniform galvanostatic current the surface flux is set by the current,
so the Butler–Volmer equation fixes the overpotential η algebraically from the current density
and i₀(x_s); V = OCV(x_s) + η (:func:`ionscale.fem.model.overpotential_V`).

Stop events: the voltage at the cut-off, the mean x at the full capacity, and the surface x at
the end of the handoff's x range. Each is an event function g, ≥ 0 while the run may go on,
measured in units of its tolerance (:data:`EVENT_TOLERANCES`). A step across an event
(min g < −1) is shortened by regula falsi on the step size (:func:`locate_event`), so the run
ends on the event to a tolerance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from ionscale.fem.model import (
    ParticleCase,
    ParticleMaterial,
    Scales,
    exchange_current_density_A_m2,
    overpotential_V,
)
from ionscale.fem.transport import Observation, RadialDiffusion

log = logging.getLogger("ionscale.fem")

#: Tolerances of the stop events (the run ends within these of the event).
EVENT_TOLERANCES = {"cutoff_voltage": 1e-5, "full_capacity": 1e-7, "surface_at_x_range_end": 1e-7}
#: A located event may sit up to this many tolerances early when Newton fails just past it.
LOCATE_FALLBACK_TOLERANCES = 10.0


class StopEvents:
    """The stop events of a case and the terminal voltage of a state."""

    def __init__(self, case: ParticleCase, material: ParticleMaterial, scales: Scales) -> None:
        self.case = case
        self.material = material
        self.scales = scales
        lo, hi = material.x_range
        self.lo, self.hi = lo, hi
        # aim 2 event tolerances inside the range, so the located state can still be evaluated
        margin = 2 * EVENT_TOLERANCES["surface_at_x_range_end"]
        self.x_limit = hi - margin if case.sign > 0 else lo + margin

    def complete(self, obs: Observation) -> Observation:
        """Voltage of a state (NaN where the surface left the handoff's x range)."""
        case, material, scales = self.case, self.material, self.scales
        if self.lo - 1e-12 <= obs.surface_x <= self.hi + 1e-12:
            obs.ocv_V = float(material.ocv_V(np.array(obs.surface_x)))
            obs.i0_A_m2 = exchange_current_density_A_m2(
                obs.surface_x, case.exchange_current_density_A_m2, case.charge_transfer_coefficient
            )
            obs.overpotential_V = overpotential_V(
                scales.current_density_A_m2,
                obs.i0_A_m2,
                case.temperature_K,
                case.charge_transfer_coefficient,
            )
            obs.voltage_V = obs.ocv_V + obs.overpotential_V
        return obs

    def events(self, obs: Observation) -> dict[str, float]:
        """Event functions, ≥ 0 while the run may go on, in units of their tolerance."""
        case = self.case
        g = {
            "full_capacity": case.sign * (case.final_li_fraction - obs.mean_x),
            "surface_at_x_range_end": case.sign * (self.x_limit - obs.surface_x),
        }
        if case.cutoff_voltage_V is not None:
            v = obs.voltage_V
            g["cutoff_voltage"] = (
                math.inf if math.isnan(v) else case.sign * (v - case.cutoff_voltage_V)
            )
        return {k: val / EVENT_TOLERANCES[k] for k, val in g.items()}


def locate_event(
    diff: RadialDiffusion,
    dt_hi: float,
    g_lo: dict[str, float],
    g_hi: dict[str, float],
    complete: Callable[[Observation], Observation],
    events: Callable[[Observation], dict[str, float]],
) -> tuple[float, Observation, dict[str, float], int, int]:
    """Step size at which the first event function reaches 0 (within its tolerance).

    G(Δτ) = min over events of g/tol is ≥ 0 at Δτ = 0 and < −1 at ``dt_hi``; Illinois regula
    falsi finds Δτ with −1 ≤ G ≤ 1 (each evaluation is one extrapolated step from xⁿ,
    :meth:`~ionscale.fem.transport.RadialDiffusion.advance`). Returns the step, its observation
    and event functions, the Newton iterations and the backward-Euler solves it took. When
    Newton fails on every step past some size short of the event, the step returned is the
    largest that converged, with G above :data:`LOCATE_FALLBACK_TOLERANCES` (not on the event).
    """
    lo, hi = 0.0, dt_hi
    G_lo, G_hi = min(g_lo.values()), min(g_hi.values())
    G_lo_true = G_lo  # G at lo (the Illinois step halves the G_lo it uses for the secant)
    its_total = solves = 0
    side = 0
    n = 0
    bisect = False
    while n < 60 and hi - lo > 4 * np.spacing(hi):
        n += 1
        trial = (lo * G_hi - hi * G_lo) / (G_hi - G_lo)
        if bisect or not lo < trial < hi:
            trial = 0.5 * (lo + hi)
        bisect = False
        ok, its, n_be, _ = diff.advance(trial)
        its_total += its
        solves += n_be
        if not ok:  # a smaller step is always easier: bisect from below
            # (the secant through a made-up G_hi would sit next to hi when G_lo is large)
            hi, G_hi, bisect = trial, -2.0, True
            continue
        obs = complete(diff.observe())
        g = events(obs)
        G = min(g.values())
        if -1.0 <= G <= 1.0:
            return trial, obs, g, its_total, solves
        if G > 0:
            lo, G_lo, G_lo_true = trial, G, G
            if side == +1:
                G_hi *= 0.5
            side = +1
        else:
            hi, G_hi = trial, G
            if side == -1:
                G_lo *= 0.5
            side = -1
    # The bracket closed on a step size where Newton stops converging (e.g. the surface just
    # reaching the end of Θ's fit range, where the clamp has a kink) or 60 solves ran out. If
    # the state at the lower end is within a few tolerances of the event, it is the event;
    # further away it is a step short of the event (the caller goes on from there, with steps
    # that start from a new state: the solve that failed from this one may not).
    if lo > 0:
        ok, its, n_be, _ = diff.advance(lo)
        its_total += its
        solves += n_be
        if ok:
            obs = complete(diff.observe())
            g = events(obs)
            log.info(
                "%s at %.3g tolerances (Newton fails beyond this step size)",
                "stop event taken" if G_lo_true <= LOCATE_FALLBACK_TOLERANCES else "step short",
                min(g.values()),
            )
            return lo, obs, g, its_total, solves
    raise RuntimeError(
        f"stop event not located within {n} trial steps (step in [{lo}, {hi}], event function "
        f"{G_lo_true:.3g} tolerances at the lower end)"
    )
