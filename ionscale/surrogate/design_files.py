"""The ``design.json`` of a sweep and of the grid a Bayesian optimisation is compared with.

A design lists the cases of a study, each with the values of the swept parameters (one case
config per job: the case job picks its row, :func:`ionscale.surrogate.cases.design_case`), and
records the parameter box, the method and its seed. The parameter boxes and the sampling
(Latin hypercube, Sobol', grids) are in :mod:`~ionscale.surrogate.design`; the design of an
optimisation round is proposed in :mod:`~ionscale.surrogate.optimisation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ionscale.surrogate.cases import case_names
from ionscale.surrogate.design import ParameterSpace


def design_payload(
    *,
    study: str,
    solver: str,
    base_case: str,
    space: ParameterSpace,
    x: Any,
    method: str,
    seed: int | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of a ``design.json``: the box, the method and one record per case."""
    records = space.as_records(x)
    return {
        "study": study,
        "solver": solver,
        "base_case": base_case,
        "method": method,
        "seed": seed,
        "parameter_space": space.describe(),
        "cases": [
            {"case": name, "parameters": rec}
            for name, rec in zip(case_names(len(records)), records, strict=True)
        ],
        **(extra or {}),
    }


def sweep_design(sweep: Mapping[str, Any], solver: str, master_seed: int) -> dict[str, Any]:
    """``design.json`` content of the sweep ``surrogate.<solver>``."""
    from ionscale.config import derive_seed

    space = ParameterSpace.from_config(sweep["parameters"], f"surrogate.{solver}.parameters")
    seed = derive_seed(master_seed, "surrogate", solver, "design")
    x = space.sample(sweep["n_samples"], sweep["design"], seed)
    return design_payload(
        study=f"sweeps/{solver}",
        solver=solver,
        base_case=sweep["base_case"],
        space=space,
        x=x,
        method=sweep["design"],
        seed=seed,
    )


def bo_grid_design(bo: Mapping[str, Any]) -> dict[str, Any]:
    """``design.json`` content of the grid sweep a Bayesian optimisation is compared with."""
    space = ParameterSpace.from_config(bo["parameters"], "surrogate.bo.parameters")
    return design_payload(
        study="bo/grid",
        solver=bo["solver"],
        base_case=bo["base_case"],
        space=space,
        x=space.grid(bo["grid_points"]),
        method=f"grid {bo['grid_points']}^{space.dim}",
        seed=None,
    )
