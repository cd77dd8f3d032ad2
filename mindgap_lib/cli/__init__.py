"""`mindgap`: the command line; one module per group of subcommands (see :mod:`.main`)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
