"""The build: the stage registry and its cache (:class:`Build`), the chapter runner, the book, a run's numbers."""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".engine": ("Build",),
    ".stages": ("REGISTRY", "Ref", "book_refs"),
    ".runner": ("run_chapters",),
    ".book": ("build_book",),
    ".report": ("collect_metrics", "save_chapter_numbers"),
})
