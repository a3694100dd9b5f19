"""Designs of experiments over continuum-model case parameters.

A sweep varies a few case parameters (C-rate, particle radius, temperature, mean composition,
gradient-energy coefficient κ …) inside bounds from the config. Space-filling designs come from
:mod:`scipy.stats.qmc`:

- Latin hypercube sampling (McKay, Beckman & Conover, Technometrics 21, 239 (1979)), with the
  random-CD optimisation that lowers its centred discrepancy;
- scrambled Sobol' sequences (Sobol', USSR Comput. Math. Math. Phys. 7, 86 (1967); Owen 1998
  scrambling), of which the first ``n`` points of a ``2**m`` design are taken;
- full-factorial grids, the reference a Bayesian optimisation is compared against.

Parameters spanning decades (C-rate, diffusivity …) are sampled uniformly in log10 space
(``log: true``). Every surrogate sees its inputs in the unit cube produced by
:meth:`ParameterSpace.to_unit`, so length scales of different parameters are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class SurrogateInputError(ValueError):
    """A surrogate-stage input is unusable; the message names the config key or file."""


@dataclass(frozen=True)
class Parameter:
    """One swept case parameter.

    Parameters
    ----------
    name:
        The solver's case key it sets (e.g. ``"c_rate"``); its unit is the solver's.
    low, high:
        Bounds in the parameter's own unit, ``low < high``.
    log:
        Sample uniformly in log10 (both bounds must then be > 0).
    key:
        Dotted config key of this entry, used in error messages.
    """

    name: str
    low: float
    high: float
    log: bool = False
    key: str = ""

    def __post_init__(self) -> None:
        where = self.key or self.name
        lo, hi = float(self.low), float(self.high)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise SurrogateInputError(f"{where}: bounds must be finite numbers, got [{lo}, {hi}]")
        if not lo < hi:
            kind = "empty" if lo == hi else "reversed"
            raise SurrogateInputError(
                f"{where} ({self.name}): bounds [low={lo}, high={hi}] are {kind}; "
                "expected low < high"
            )
        if self.log and lo <= 0:
            raise SurrogateInputError(
                f"{where} ({self.name}): log-scaled parameter needs low > 0, got low={lo}"
            )


class ParameterSpace:
    """A box of case parameters and its map to the unit cube.

    Parameters
    ----------
    parameters:
        The swept parameters; names must be unique.
    key:
        Dotted config key of the parameter list (for error messages).
    """

    def __init__(self, parameters: Sequence[Parameter], key: str = "parameters") -> None:
        if not parameters:
            raise SurrogateInputError(f"{key}: at least one parameter must be swept")
        names = [p.name for p in parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SurrogateInputError(f"{key}: parameter names repeated: {', '.join(dup)}")
        self.parameters = tuple(parameters)
        self.key = key

    @classmethod
    def from_config(cls, entries: Sequence[Mapping[str, Any]], key: str) -> ParameterSpace:
        """Build from config entries ``{name, low, high, log}`` (``key`` is their dotted key)."""
        params = [
            Parameter(
                name=str(e["name"]),
                low=float(e["low"]),
                high=float(e["high"]),
                log=bool(e.get("log", False)),
                key=f"{key}[{i}]",
            )
            for i, e in enumerate(entries)
        ]
        return cls(params, key=key)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        return len(self.parameters)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log = np.array([p.log for p in self.parameters])
        lo = np.array([math.log10(p.low) if p.log else p.low for p in self.parameters])
        hi = np.array([math.log10(p.high) if p.log else p.high for p in self.parameters])
        return lo, hi, log

    def to_unit(self, x: Any) -> np.ndarray:
        """Physical parameters (n, d) → unit-cube coordinates (n, d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.dim:
            raise SurrogateInputError(
                f"{self.key}: expected {self.dim} parameters ({', '.join(self.names)}), "
                f"got arrays with {x.shape[1]} columns"
            )
        lo, hi, log = self._bounds()
        t = x.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            t[:, log] = np.log10(t[:, log])
        return (t - lo) / (hi - lo)

    def from_unit(self, u: Any) -> np.ndarray:
        """Unit-cube coordinates (n, d) → physical parameters (n, d)."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        lo, hi, log = self._bounds()
        t = lo + u * (hi - lo)
        t[:, log] = 10.0 ** t[:, log]
        return t

    def contains(self, x: Any, rtol: float = 1e-9) -> np.ndarray:
        """Whether each row of ``x`` lies inside the box (bool array of length n)."""
        u = self.to_unit(x)
        return np.all((u >= -rtol) & (u <= 1 + rtol), axis=1)

    def sample(self, n: int, method: str, seed: int) -> np.ndarray:
        """A space-filling design of ``n`` points (physical units, shape (n, d)).

        ``method`` is ``"lhs"`` (Latin hypercube, random-CD optimised) or ``"sobol"``
        (scrambled Sobol', first ``n`` points of a ``2**ceil(log2 n)`` design).
        """
        from scipy.stats import qmc

        if n < 1:
            raise SurrogateInputError(f"design size must be ≥ 1, got {n}")
        rng = np.random.default_rng(seed)
        if method == "lhs":
            u = qmc.LatinHypercube(self.dim, optimization="random-cd", rng=rng).random(n)
        elif method == "sobol":
            m = max(0, math.ceil(math.log2(n)))
            u = qmc.Sobol(self.dim, scramble=True, rng=rng).random_base2(m)[:n]
        else:
            raise SurrogateInputError(f"unknown design method {method!r}; expected lhs or sobol")
        return self.from_unit(u)

    def grid(self, points_per_dim: int) -> np.ndarray:
        """A full-factorial grid, ``points_per_dim`` evenly spaced values per parameter
        (evenly in log10 for log parameters), bounds included; shape (points**d, d)."""
        if points_per_dim < 2:
            raise SurrogateInputError(
                f"a grid needs ≥ 2 points per dimension, got {points_per_dim}"
            )
        axes = [np.linspace(0.0, 1.0, points_per_dim)] * self.dim
        u = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.dim)
        return self.from_unit(u)

    def as_records(self, x: Any) -> list[dict[str, float]]:
        """Rows of ``x`` as ``{name: value}`` dicts (one case config overlay per row)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return [{n: float(v) for n, v in zip(self.names, row, strict=True)} for row in x]

    def from_records(self, records: Sequence[Mapping[str, Any]], where: str = "") -> np.ndarray:
        """``{name: value}`` dicts → array (n, d); a missing parameter is a clear error."""
        rows = []
        for i, rec in enumerate(records):
            missing = [n for n in self.names if n not in rec]
            if missing:
                raise SurrogateInputError(
                    f"{where or 'case'} #{i}: no value for swept parameter(s) {', '.join(missing)}"
                )
            rows.append([float(rec[n]) for n in self.names])
        return np.asarray(rows, dtype=float).reshape(-1, self.dim)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready description of the box."""
        return [
            {"name": p.name, "low": p.low, "high": p.high, "log": p.log} for p in self.parameters
        ]
