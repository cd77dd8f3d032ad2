"""The build: stage instances resolved to keys, run through the cache under locks, side by side when asked.

``Build(profile, build_dir, device)`` is the one object the chapters, the command line and the
tests use. Keys are computed once per instance from the stage declaration (:mod:`.stages`); a
stage runs in ``<build_dir>/<profile>/artifacts/<slug>-<hash>/`` under that folder's lock, and a
folder without its completion mark is redone (or resumed, for stages that resume themselves).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable

from ..artifacts import Artifact
from ..config import Profile, load_profile
from ..errors import BuildError
from ..util.fingerprint import PACKAGE_ROOT, code_fingerprint
from ..util.parallel import side_by_side
from ..util.versions import package_versions
from . import cache
from .report import collect_metrics, register, save_chapter_numbers
from .stages import REGISTRY, Context, Ref, StageDef, book_refs, device_kind

__all__ = ["Build"]


class Build:
    """One profile's build folder on one device.

    Arguments:
        profile: a name, TOML path or :class:`Profile` (resolved once, here).
        build_dir: artifacts go to ``<build_dir>/<profile name>/artifacts``.
        device: torch device of the stages that use one (part of their keys).
        code_root: where the fingerprinted sources live (tests point it at an edited copy).
        lock_timeout: seconds to wait for another run's lock (None: as long as it takes).
    """

    def __init__(self, profile: Any, build_dir: str | os.PathLike = "build", device: str = "cpu", *,
                 progress: bool = True, code_root: Path = PACKAGE_ROOT, lock_timeout: float | None = None):
        self.profile: Profile = load_profile(profile)
        self.root = Path(build_dir) / self.profile.name
        self.artifacts = self.root / "artifacts"
        self.device, self.progress, self.code_root, self.lock_timeout = str(device), progress, code_root, lock_timeout
        self._keys: dict[Ref, str] = {}

    # ------------------------------------------------------------ planning (no work done)

    def ref(self, name: str | Ref, **params: Any) -> Ref:
        """The full instance of stage `name`: its parameters' defaults filled in, unknown ones an error."""
        if isinstance(name, Ref):
            params = {**name.p, **params}
            name = name.name
        spec = self._spec(name)
        defaults = spec.params(self.profile)
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise BuildError(f"stage {name}: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(defaults) or 'none'})")
        return Ref(name, tuple(sorted({**defaults, **params}.items())))

    def _spec(self, name: str) -> StageDef:
        if name not in REGISTRY:
            raise BuildError(f"unknown stage {name!r} (stages: {', '.join(REGISTRY)})")
        return REGISTRY[name]

    def inputs(self, ref: Ref) -> dict[str, Ref]:
        return {k: self.ref(r) for k, r in self._spec(ref.name).inputs(self.profile, ref.p).items()}

    def config(self, ref: Ref) -> dict[str, Any]:
        spec = self._spec(ref.name)
        config = dict(spec.config(self.profile, ref.p))
        if spec.uses_device:
            config["device"] = device_kind(self.device)
        return config

    def key(self, ref: Ref | str, **params: Any) -> str:
        """``<slug>-<hash>``: the hash covers the config, the code fingerprint and the inputs' keys."""
        ref = self.ref(ref, **params)
        if ref not in self._keys:
            spec = self._spec(ref.name)
            code = code_fingerprint(spec.code, (spec.run, spec.config), self.code_root)
            inputs = {k: self.key(r) for k, r in self.inputs(ref).items()}
            self._keys[ref] = f"{ref.slug}-{cache.config_hash({'config': self.config(ref), 'code': code}, inputs)}"
        return self._keys[ref]

    def folder(self, ref: Ref | str, **params: Any) -> Path:
        return self.artifacts / self.key(ref, **params)

    def status(self, ref: Ref | str, **params: Any) -> str:
        """``cached``, ``partial`` or ``missing``."""
        return cache.status(self.folder(ref, **params))

    def plan(self, refs: Iterable[Ref | str] | None = None) -> list[Ref]:
        """`refs` (default: every stage the book uses) and everything they read, inputs first."""
        order: list[Ref] = []

        def visit(ref: Ref) -> None:
            if ref in order:
                return
            for r in self.inputs(ref).values():
                visit(r)
            order.append(ref)

        for r in (book_refs(self.profile) if refs is None else refs):
            visit(self.ref(r))
        return order

    def describe(self, refs: Iterable[Ref | str] | None = None) -> list[tuple[str, str, str]]:
        """``(instance, key, status)`` per stage of :meth:`plan`: the dry run."""
        return [(str(r), self.key(r), self.status(r)) for r in self.plan(refs)]

    # ------------------------------------------------------------ running

    def artifact(self, ref: Ref | str, **params: Any) -> Artifact:
        ref = self.ref(ref, **params)
        cls = self._spec(ref.name).artifact
        folder = self.folder(ref)
        return cls(folder, **({"variation": ref.p["variation"]} if "variation" in ref.p and ref.name == "latents" else {}))

    def ensure(self, ref: Ref | str, **params: Any) -> Artifact:
        """The stage's artifact, running it (and whatever it reads) first unless it is cached."""
        ref = self.ref(ref, **params)
        inputs = {k: self.ensure(r) for k, r in self.inputs(ref).items()}
        key, out = self.key(ref), self.folder(ref)
        if not cache.is_complete(out):
            with cache.stage_lock(self.artifacts, key, self.lock_timeout):
                if not cache.is_complete(out):  # another run may have finished it while we waited
                    self._run(ref, out, inputs)
        register(self.artifacts, str(ref), key)
        return self.artifact(ref)

    def _run(self, ref: Ref, out: Path, inputs: dict[str, Artifact]) -> None:
        spec = self._spec(ref.name)
        if spec.resume:
            out.mkdir(parents=True, exist_ok=True)
        else:
            cache.reset_partial(out)
        if self.progress:
            print(f"[mindgap] running stage {ref} -> {out.name}", flush=True)
        t0 = time.perf_counter()
        spec.run(Context(self.profile, ref, out, inputs, self.device, self.progress))
        cache.mark_complete(out, {"stage": str(ref), "config": self.config(ref),
                                  "inputs": {k: a.path.name for k, a in inputs.items()},
                                  "seconds": round(time.perf_counter() - t0, 3), "versions": package_versions()})

    def save_numbers(self, chapter: str, numbers: dict[str, Any]) -> Path:
        """A chapter's key numbers, as ``<root>/chapters/<chapter>.json`` (gathered into ``metrics.json``)."""
        return save_chapter_numbers(self.root, chapter, numbers)

    def collect_metrics(self) -> dict[str, Any]:
        """Every registered stage's numbers and the chapters' numbers, written to ``<root>/metrics.json``."""
        return collect_metrics(self.root, self.profile.name)

    def ensure_many(self, refs: Iterable[Ref | str], workers: int = 1) -> list[Artifact]:
        """Several stages; their inputs first (here, in order), then the missing ones `workers` at a
        time, each in its own Dask process on one core (:meth:`Profile.one_core`: the same keys and
        results, since every stage is a pure function of its inputs and its hashed settings)."""
        refs = [self.ref(r) for r in refs]
        for ref in refs:
            for r in self.inputs(ref).values():
                self.ensure(r)
        todo = [r for r in dict.fromkeys(refs) if not cache.is_complete(self.folder(r))]
        if len(todo) > 1 and workers > 1:
            if self.progress:
                print(f"[mindgap] {len(todo)} stages side by side: {', '.join(map(str, todo))}", flush=True)
            side_by_side(_ensure_elsewhere, [((self.profile.one_core(), self.root.parent, self.device, str(self.code_root),
                                               self.lock_timeout, r), {}) for r in todo], workers)
        return [self.ensure(r) for r in refs]


def _ensure_elsewhere(profile: Profile, build_dir: Path, device: str, code_root: str, lock_timeout: float | None,
                      ref: Ref) -> str:
    """A Dask job: ensure one stage in a fresh process (quietly)."""
    build = Build(profile, build_dir, device, progress=False, code_root=Path(code_root), lock_timeout=lock_timeout)
    return build.ensure(ref).path.name
