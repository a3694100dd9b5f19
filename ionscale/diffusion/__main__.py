"""Command line: ``python -m ionscale.diffusion results/<system>/diffusion/arrhenius.h5 [...]``
prints Ea, D and σ at the report temperature with their intervals, for each file given."""

from __future__ import annotations

import sys

from ionscale.diffusion.io import format_arrhenius_summary


def main(argv: list[str] | None = None) -> None:
    """Print the summary of every arrhenius.h5 in ``argv`` (default: the command line)."""
    for arg in (sys.argv[1:] if argv is None else argv) or ["-h"]:
        if arg in ("-h", "--help"):
            print("usage: python -m ionscale.diffusion ARRHENIUS_H5 [...]")
            continue
        print(format_arrhenius_summary(arg))


if __name__ == "__main__":
    main()
