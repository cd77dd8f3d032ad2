"""`mindgap`: the command line. Each group of subcommands lives in `mindgap_lib/cli/<name>.py`.

A command module defines ``register(subparsers)`` that adds its parser(s) and sets
``func=handler``; heavy imports (torch, pythia) happen inside the handler so that
``mindgap --help`` stays instant. An error of ours (:class:`~mindgap_lib.errors.MindgapError`,
which names the file, field or parameter) is printed as one line with exit status 2; anything
unexpected also prints one line, and its traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

__all__ = ["main", "build_parser"]

# pipeline order: generate -> train-tagger -> latents -> fit-transport -> evaluate; stages/run/book drive the build
COMMAND_MODULES = ("generate", "tagger", "transport", "evaluate", "stages", "run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindgap",
        description="Mind the Gap, executable: generate JetClass-like jets, train the tagger, "
        "calibrate its latent space with an optimal transport map, evaluate, and build the book.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"mindgap_lib.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..errors import MindgapError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"mindgap {args.command}: interrupted; finished outputs are kept", file=sys.stderr)
        return 130
    except MindgapError as err:
        if args.debug:
            traceback.print_exc()
        print(f"mindgap {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug or an unforeseen input: one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        print(f"mindgap {args.command}: unexpected {type(err).__name__}: {err} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
