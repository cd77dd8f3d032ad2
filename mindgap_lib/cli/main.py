"""`mindgap`: the command line. Each subcommand lives in `mindgap_lib/commands/<name>.py`.

A command module defines ``register(subparsers)`` that adds its parser(s) and sets
``func=handler``; heavy imports (torch, pythia) happen inside the handler so that
``mindgap --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# pipeline order: generate -> train-tagger -> latents -> fit-transport -> evaluate; run/book drive chapters
COMMAND_MODULES = ("generate", "tagger", "transport", "evaluate", "run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindgap",
        description="Mind the Gap, executable: generate JetClass-like jets, train the tagger, "
        "calibrate its latent space with an optimal transport map, evaluate, and build the book.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"mindgap_lib.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"mindgap_lib.cli.{name}":
                continue  # stage not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:  # our errors name the file/field/parameter
        print(f"mindgap {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mindgap {args.command}: interrupted; finished outputs are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
