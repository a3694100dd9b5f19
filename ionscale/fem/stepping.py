r"""The time loop of a particle run: adaptive extrapolated backward-Euler steps until a stop event.

Time step: adaptive. Each step is backward Euler by step doubling with Richardson extrapolation
(:meth:`ionscale.fem.transport.RadialDiffusion.advance`); its error estimate
e = ‖x_½ − x_1‖∞ (the half-stepped solution against the full step, in Li fraction) is the
local error of backward Euler, an upper bound of the extrapolated solution's. A step with
e > tol is repeated with a smaller Δτ, and Δτₙ₊₁ = Δτₙ·clip(0.9 (tol/e)^½, 0.2, 2).
The first step is a few diffusion times of the surface cell (:func:`initial_step`).
A step whose Newton iteration fails is repeated with Δτ/4. Stop events (voltage at the cut-off,
mean x at the full capacity, surface x at the end of the handoff's x range) are located by
regula falsi on the step size, so the run ends on the event to a tolerance
(:mod:`ionscale.fem.events`).

The phase field's :class:`ionscale.phasefield.core.StepControl` doubles steps too, but measures
its error relative to the field's fluctuation amplitude (a spinodal starts from noise); here the
rise is driven by the surface flux from the first step, and the tolerance is absolute.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ionscale.fem.events import LOCATE_FALLBACK_TOLERANCES, StopEvents, locate_event
from ionscale.fem.model import SolverSettings
from ionscale.fem.transport import Observation, RadialDiffusion

log = logging.getLogger("ionscale.fem")


@dataclass
class LoopOutcome:
    """How a time loop ended and what it cost."""

    stop_reason: str
    n_steps: int
    n_rejected: int
    n_newton: int
    n_solves: int


#: the first step, in diffusion times of the surface cell (h_s²/Θ(x₀), h_s its width in ξ):
#: long enough that the diffusion layer spans a few cells, so the first state is resolved in
#: space; the extrapolated step is accurate in time at any size
INITIAL_STEP_SURFACE_CELL_TIMES = 2.0


def initial_step(diff: RadialDiffusion, x0: float, fill_time: float) -> float:
    """The first Δτ: :data:`INITIAL_STEP_SURFACE_CELL_TIMES` diffusion times of the surface
    cell at the initial composition, at most 1/50 of the fill time."""
    h = diff.surface_cell_width
    x = np.clip([x0], diff.fit.lo, diff.fit.hi)
    theta = max(float(diff.fit(x)[0]), diff.settings.min_thermodynamic_factor)
    return min(INITIAL_STEP_SURFACE_CELL_TIMES * h * h / theta, fill_time / 50)


def rejected_step(dt: float, tol: float, err: float) -> float:
    """Step to retry with after a step with e > tol."""
    return dt * max(0.2, 0.9 * math.sqrt(tol / err))


def step_factor(tol: float, err: float) -> float:
    """Δτₙ₊₁/Δτₙ after an accepted step: clip(0.9 (tol/e)^½, 0.2, 2)."""
    return min(2.0, max(0.2, 0.9 * math.sqrt(tol / max(err, 1e-300))))


def run_time_loop(
    diff: RadialDiffusion,
    stops: StopEvents,
    record: Callable[[float, Observation, float, int], None],
    settings: SolverSettings,
    key: str,
    fill_time: float,
    time_scale_s: float,
    write_frame: Callable[[float], None] | None = None,
) -> LoopOutcome:
    """Step from the state in ``diff.x_old`` (τ = 0) until a stop event.

    ``record(τ, observation, Δτ, Newton iterations)`` is called at τ = 0 and after each
    accepted step; ``write_frame(t_s)`` (optional) at τ = 0, at ``settings.output_frames``
    times spread over ``fill_time`` and at the end. ``time_scale_s`` is the diffusion time
    (s per unit τ); ``key`` names the case in errors.
    """
    t_d = time_scale_s
    t = 0.0
    obs = stops.complete(diff.observe())
    record(t, obs, 0.0, 0)
    if write_frame is not None:
        write_frame(t * t_d)
    next_frame = fill_time / max(settings.output_frames, 1)

    tol = settings.time_step_tolerance
    dt = initial_step(diff, obs.mean_x, fill_time)
    dt_min = 1e-13 * fill_time
    dt_max = fill_time / 50  # enough points for the curves
    n_steps = n_rejected = n_solves = n_newton = 0
    stop_reason = ""
    g_old = stops.events(obs)
    if min(g_old.values()) <= 1.0:
        # e.g. the overpotential of the current alone crosses the cut-off voltage
        stop_reason = min(g_old, key=lambda k: g_old[k])
        log.warning("%s: stop event %r already at t = 0", key, stop_reason)
    while not stop_reason:
        if n_steps >= settings.max_steps:
            raise RuntimeError(
                f"{key}: no stop event after fem.solver.max_steps = {settings.max_steps} "
                f"steps (t = {t * t_d:.4g} s, mean x = {obs.mean_x:.4f})"
            )
        dt = min(dt, dt_max)
        if dt < dt_min:
            raise RuntimeError(
                f"{key}: time step fell below {dt_min * t_d:.3e} s at t = {t * t_d:.4g} s "
                "(Newton keeps failing; check the handoff's f(x) and fem.solver settings)"
            )
        ok, its, solves, err = diff.advance(dt)
        n_newton += its
        n_solves += solves
        if not ok:
            n_rejected += 1
            dt *= 0.25
            continue
        if err > tol:
            n_rejected += 1
            dt = rejected_step(dt, tol, err)
            continue
        new = stops.complete(diff.observe())
        g_new = stops.events(new)
        located = min(g_new.values()) < -1.0
        if located:
            # an event lies inside this step: regula falsi (Illinois) on the step size
            dt, new, g_new, its_extra, solves = locate_event(
                diff, dt, g_old, g_new, stops.complete, stops.events
            )
            n_newton += its_extra
            n_solves += solves
            # on the event, or a step short of it where Newton fails beyond (go on from there)
            located = min(g_new.values()) <= LOCATE_FALLBACK_TOLERANCES
        n_steps += 1
        t += dt
        obs = new
        record(t, obs, dt, its)
        # a located step ends on an event by construction (possibly a few tolerances early)
        hit = list(g_new) if located else [k for k, g in g_new.items() if g <= 1.0]
        if hit:
            stop_reason = min(hit, key=lambda k: g_new[k])
        if write_frame is not None and (t >= next_frame or stop_reason):
            write_frame(t * t_d)
            while next_frame <= t:
                next_frame += fill_time / max(settings.output_frames, 1)
        factor = step_factor(tol, err)
        diff.x_old.x.array[:] = diff.x.x.array
        g_old = g_new
        dt = dt * factor
    return LoopOutcome(stop_reason, n_steps, n_rejected, n_newton, n_solves)
