"""Atomic file writing: write under a temporary name beside the target, then rename."""

import contextlib
import os
import tempfile
from pathlib import Path


def default_mode(directory: bool = False) -> int:
    """Permission bits a normal `open`/`mkdir` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it becomes `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_if_changed(path, data: bytes) -> bool:
    """Write `data` atomically unless the file already holds exactly it; True if it was written."""
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def write_text_if_changed(path, text: str) -> bool:
    """Write `text` (UTF-8) atomically unless the file already holds exactly it; True if it was written."""
    return write_bytes_if_changed(path, text.encode())
