"""Small infrastructure shared by every layer: atomic writes, file locks, code fingerprints."""

from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, temp_name
from .fingerprint import code_fingerprint
from .locks import LockTimeout, file_lock

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "temp_name", "code_fingerprint",
           "LockTimeout", "file_lock"]
