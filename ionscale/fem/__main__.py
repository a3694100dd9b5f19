"""Command line of the fem stage, for MPI runs: ``mpirun -n 2 python -m ionscale.fem JOB.json``.

JOB.json holds ``case`` (a ``fem.cases`` entry), ``solver`` (``fem.solver``), ``handoff`` (path
of parameters.h5), ``outdir`` and ``provenance`` (``stage``, ``config``, ``inputs``). The
Snakemake rule writes it when it runs a case on more than one rank.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import mpi4py.MPI as MPI  # before DOLFINx (libmpi)


def main(argv: list[str] | None = None) -> int:
    from ionscale.fem.model import FemInputError
    from ionscale.fem.run import run_case_from_config
    from ionscale.provenance import Provenance

    parser = argparse.ArgumentParser(prog="python -m ionscale.fem", description=__doc__)
    parser.add_argument("job", help="JSON file describing the case (see module docstring)")
    args = parser.parse_args(argv)
    comm = MPI.COMM_WORLD
    logging.basicConfig(
        level=logging.INFO if comm.rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank {comm.rank}] %(name)s %(levelname)s: %(message)s",
    )
    with open(args.job) as fh:
        job = json.load(fh)
    prov = job.get("provenance", {})
    provenance = Provenance(
        stage=prov.get("stage", "fem"), config=prov.get("config", {}), inputs=prov.get("inputs", [])
    )
    try:
        run_case_from_config(
            job["case"], job.get("solver", {}), job["handoff"], job["outdir"], provenance, comm=comm
        )
    except FemInputError as exc:
        if comm.rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
