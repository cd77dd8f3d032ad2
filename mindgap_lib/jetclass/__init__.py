"""The JetClass file format: branch names and dtypes (:mod:`.schema`), reading and writing (:mod:`.io`)."""

from .io import JetFileError, read_jets, read_metadata, write_jets
from .schema import CLASSES

__all__ = ["CLASSES", "JetFileError", "read_jets", "read_metadata", "write_jets"]
