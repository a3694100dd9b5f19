"""Plumbing shared by the ``script:`` entry points: logging to the rule's log, threads."""

from __future__ import annotations

import logging
import os
import sys


def setup(snakemake) -> logging.Logger:
    """Send logging and stderr to the rule's log file; pin thread pools to the rule's threads."""
    from ionscale.check import set_threads

    set_threads(int(getattr(snakemake, "threads", 1) or 1))
    log_file = snakemake.log[0] if len(snakemake.log) else None
    if log_file:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        handler = logging.FileHandler(log_file, mode="w")
        sys.stderr = open(log_file, "a", buffering=1)
    else:
        handler = logging.StreamHandler()
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        handlers=[handler],
        force=True,
    )
    return logging.getLogger(f"ionscale.{snakemake.rule}")
