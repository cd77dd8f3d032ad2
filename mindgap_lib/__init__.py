"""mindgap: reproduce "Mind the Gap: Navigating Inference with Optimal Transport Maps" end to end."""

from .config import load_profile, section
from .jetclass.io import JetFileError, read_jets, write_jets
from .jetclass.schema import CLASSES

__all__ = ["CLASSES", "JetFileError", "load_profile", "read_jets", "section", "write_jets"]
__version__ = "0.1.0"
