"""`mindgap run` (execute the book's chapters with papermill) and `mindgap book` (build the HTML)."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ..build.runner import parse_value, run_chapters

    overrides = {name: parse_value(value) for name, value in args.param}
    t0 = time.perf_counter()
    result = run_chapters(args.profile, chapters=args.chapters, device=args.device, overrides=overrides,
                          out=args.out, book_dir=args.book_dir, progress=not args.quiet)
    if not result.ok:
        print(f"mindgap run: {result.error}\n  partially executed notebook kept: {result.failed}", file=sys.stderr)
        return 1
    print(f"mindgap run: {len(result.executed)} chapter(s) in {time.perf_counter() - t0:.0f} s; "
          f"notebooks in {result.executed[0].parent if result.executed else '-'}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from ..build.book import build_book

    t0 = time.perf_counter()
    html = build_book(args.profile, args.build_dir, out=args.out, quiet=not args.verbose)
    print(f"mindgap book: built {html}/index.html in {time.perf_counter() - t0:.0f} s")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="execute the book's chapters with papermill (profile, device, parameters)",
        description="Execute the chapters (book/NN_*.ipynb) in order with papermill into OUT/notebooks/.\n\n"
                    "Each chapter's `parameters` cell receives the profile, the device, build_dir and every -p\n"
                    "override it declares; a -p name that no selected chapter declares is an error before\n"
                    "anything runs. Heavy stages are cached under OUT/artifacts/<stage>-<hash>/, so a rerun with\n"
                    "nothing changed takes seconds. A failing chapter stops the run (exit 1) and its partial\n"
                    "notebook is kept as OUT/notebooks/<name>.failed.ipynb. OUT/metrics.json gathers every\n"
                    "stage's numbers, the configuration hashes and the package versions.",
        epilog="examples:\n  mindgap run --profile tiny\n  mindgap run --profile cpu --chapters 04 05 -p post False\n"
               "  mindgap run --profile paper --device cuda --out /scratch/build/paper\n"
               "  papermill book/03_transport.ipynb out.ipynb -p profile paper -p device cuda   # one chapter",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu", help="tiny | cpu | paper, or a TOML file (default: cpu)")
    p.add_argument("--chapters", nargs="+", metavar="NN", help="chapters to run, e.g. 01 03 (default: all)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="torch device (default: cpu)")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a chapter parameter (a Python literal or a string); repeatable")
    p.add_argument("--out", help="output folder, ending in the profile name (default: build/<profile>)")
    p.add_argument("--book-dir", default="book", help="folder holding the chapter notebooks (default: book)")
    p.add_argument("--quiet", action="store_true", help="no per-cell progress bars")
    p.set_defaults(func=_run)

    b = subparsers.add_parser(
        "book", help="build the HTML book from the executed chapters into _build/html",
        description="Build the Jupyter Book from BUILD/<profile>/notebooks (run `mindgap run` first). Jupyter Book "
                    "does not execute anything; the introduction's 'paper vs ours' table is filled from "
                    "BUILD/<profile>/metrics.json. Plotly figures carry plotly.js inline: the site works offline.")
    b.add_argument("--profile", default="cpu", help="profile whose executed chapters to use (default: cpu)")
    b.add_argument("--build-dir", default="build", help="build folder holding <profile>/notebooks (default: build)")
    b.add_argument("--out", default=".", help="the site goes to OUT/_build/html (default: .)")
    b.add_argument("--verbose", action="store_true", help="show Jupyter Book's output")
    b.set_defaults(func=_book)
