"""Command-line interface: ``ionscale check``, ``ionscale validate-config``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from ionscale.check import (
        ENGINES,
        CheckSettings,
        format_report,
        results_as_dict,
        run_checks,
    )

    engines = tuple(args.only.split(",")) if args.only else ENGINES
    settings = CheckSettings(
        dp_training_steps=args.dp_steps, md_steps=args.md_steps, threads=args.threads,
        engines=engines,
    )  # fmt: skip
    results = run_checks(settings, workdir=args.workdir)
    print(format_report(results))
    if args.json:
        from ionscale.io import write_json
        from ionscale.provenance import Provenance

        write_json(args.json, results_as_dict(results), Provenance("check", vars(settings)))
    return 0 if all(r.ok for r in results) else 1


def _cmd_validate(args: argparse.Namespace) -> int:
    """Exactly the checks the workflow runs before its first job (ionscale.validation)."""
    from ionscale.config import ConfigError, read_config_file
    from ionscale.validation import check_run_config

    try:
        config = check_run_config(read_config_file(args.configfile))
    except ConfigError as exc:
        print(f"{args.configfile}: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(config, indent=2) if args.print else f"{args.configfile}: valid"
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `--print | head`: the reader stopped, the config was valid
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def _cmd_config_docs(args: argparse.Namespace) -> int:
    """config/README.md's key table, generated from the schema."""
    from ionscale.config import markdown_key_table, write_key_table

    if args.write:
        changed = write_key_table(args.write)
        print(f"{args.write}: {'updated' if changed else 'already up to date'}")
    else:
        print(markdown_key_table(), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ionscale", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="run every engine briefly and report versions and timings")
    p.add_argument("--dp-steps", type=int, default=20, help="DeePMD-kit training steps")
    p.add_argument("--md-steps", type=int, default=10, help="LAMMPS MD steps")
    p.add_argument("--threads", type=int, default=1, help="threads for torch/OpenMP")
    p.add_argument("--only", help="comma-separated subset of gpaw,deepmd,lammps,dolfinx,snakemake")
    p.add_argument("--workdir", type=Path, help="keep the check's files here (default: temp dir)")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "validate-config",
        help="validate a config file: schema, cross-field and cross-stage rules, input files "
        "and structures (the same checks the workflow runs before its first job)",
    )
    p.add_argument("configfile", type=Path)
    p.add_argument("--print", action="store_true", help="print the default-filled config")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "config-docs", help="print config/README.md's key table, generated from the schema"
    )
    p.add_argument("--write", type=Path, help="replace the '## Keys' section of this file")
    p.set_defaults(func=_cmd_config_docs)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
