"""`mindgap stages`: the dry run of a profile's build (one line per stage), or one stage run through the cache."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _stages(args: argparse.Namespace) -> int:
    from ..build.engine import Build
    from ..build.stages import Ref

    build = Build(args.profile, args.build_dir, args.device, progress=not args.quiet)
    if args.run:
        art = build.ensure(Ref.parse(args.run))
        print(f"{build.ref(Ref.parse(args.run))} {art.path.name} cached ({art.path})")
        return 0
    rows = build.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, key, status in rows:
        print(f"{name:<{width}s}  {key}  {status}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stages", help="list a profile's stages with their keys and cache status (dry run), or run one",
        description="One line per stage instance the book uses, inputs first: NAME KEY STATUS, where STATUS is "
                    "cached (complete), partial (a folder left by a killed or failed run: it is redone) or "
                    "missing. A key changes with the stage's profile section, the code it runs, the device "
                    "(where it changes results) and its inputs' keys. With --run NAME the stage (and what it "
                    "reads) runs through the cache, as the chapters would run it.",
        epilog="examples:\n  mindgap stages --profile cpu\n  mindgap stages --profile tiny --run tagger\n"
               "  mindgap stages --profile cpu --run 'transport[layer=z128_post]'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu", help="tiny | cpu | paper, or a TOML file (default: cpu)")
    p.add_argument("--build-dir", default="build", help="build folder (default: build)")
    p.add_argument("--device", default="cpu", help="torch device of the stages that use one (default: cpu)")
    p.add_argument("--run", metavar="NAME", help="run one stage through the cache: NAME or NAME[key=value,...]")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_stages)
