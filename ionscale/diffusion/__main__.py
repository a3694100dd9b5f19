"""Command line: ``python -m ionscale.diffusion results/<system>/diffusion/arrhenius.h5 [...]``
prints Ea, D and σ at the report temperature with their intervals, for each file given."""

from __future__ import annotations

import sys

from ionscale.diffusion.io import format_arrhenius_summary
from ionscale.diffusion.settings import DiffusionInputError


def main(argv: list[str] | None = None) -> int:
    """Print the summary of every arrhenius.h5 in ``argv`` (default: the command line)."""
    status = 0
    for arg in (sys.argv[1:] if argv is None else argv) or ["-h"]:
        if arg in ("-h", "--help"):
            print("usage: python -m ionscale.diffusion ARRHENIUS_H5 [...]")
            continue
        try:
            print(format_arrhenius_summary(arg))
        except (DiffusionInputError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
