"""Gates: checks whose failure stops the chain, unless the config explicitly allows it.

A number that contradicts a measurement or the pipeline's own check stops the chain with an
error naming both, unless the config says ``action: warn``. Every gate of every stage (the
reference convergence gate, the thermo DFT check and OCV identity) records its numbers, its
tolerance and its verdict (``passed``, ``failed`` or ``allowed by config``) in its stage's
results, so a run that went on despite a failed check says so. This module holds what they
share: the actions, the verdict and :func:`enforce`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("ionscale.gates")

#: what a gate does when its check fails: stop the chain, or log and record it and go on
ACTIONS = ("error", "warn")
PASSED, FAILED, ALLOWED = "passed", "failed", "allowed by config"


class GateError(RuntimeError):
    """A check failed and the config does not allow it; ``record`` holds its numbers."""

    def __init__(self, message: str, record: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.record = dict(record or {})


def check_action(key: str, action: str) -> None:
    """ValueError naming ``key`` unless ``action`` is one of :data:`ACTIONS`."""
    if action not in ACTIONS:
        raise ValueError(f"{key}: unknown action {action!r}; known: {', '.join(ACTIONS)}")


def verdict_of(problems: Sequence[str], action: str) -> str:
    """``passed`` without problems; otherwise ``failed`` (action error) or ``allowed by config``."""
    if not problems:
        return PASSED
    return FAILED if action == "error" else ALLOWED


@dataclass
class GateVerdict:
    """A gate's decision: ``verdict`` and the problems (one sentence each, naming numbers)."""

    verdict: str
    problems: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.verdict != PASSED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def enforce(
    verdict: GateVerdict,
    what: str,
    allow_hint: str,
    error: type[GateError] = GateError,
    logger: logging.Logger = log,
) -> None:
    """Log the verdict; raise ``error`` when it is ``failed``.

    ``what`` names the check in the message; ``allow_hint`` says which key allows it.
    """
    if verdict.verdict == PASSED:
        logger.info("%s passed: %s", what, verdict.numbers)
        return
    for p in verdict.problems:
        logger.warning("%s: %s", what, p)
    if verdict.verdict == ALLOWED:
        logger.warning("%s failed, allowed by config (%s); the chain goes on", what, allow_hint)
        return
    raise error(
        f"{what} failed: " + "; ".join(verdict.problems) + f". To go on anyway set {allow_hint}.",
        verdict.as_dict(),
    )
