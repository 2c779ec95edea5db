"""Append-only gzip files made of members, so what was written survives a killed process.

Each flush appends one complete gzip member (RFC 1952 allows several in one file; ``gzip``,
``zcat`` and Python's ``gzip.open`` read them as one stream). The file is opened, the member
written in one ``write`` and the file closed again: nothing stays open between flushes, so a
SIGTERM or a day roll finds nothing to close, and a SIGKILL loses at most the rows not yet
flushed. The one thing a SIGKILL can leave is a member cut short in mid-write;
``repair_tail`` cuts such a tail off (the rows in it were never complete) before the next
append, so the file stays readable. No ``fsync``: a killed process loses nothing the kernel
already holds; a power cut may still lose the last seconds.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

GZIP_WBITS = 31  # zlib: expect a gzip header and trailer


def complete_members_end(data: bytes) -> int:
    """Where the last complete gzip member of ``data`` ends (0: none is complete)."""
    pos = 0
    while pos < len(data):
        inflater = zlib.decompressobj(GZIP_WBITS)
        try:
            inflater.decompress(data[pos:])
        except zlib.error:
            return pos
        if not inflater.eof:
            return pos
        pos = len(data) - len(inflater.unused_data)
    return pos


def read_members(path: Path) -> bytes:
    """The decompressed content of every complete member of ``path`` (b"" when missing)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    return gzip.decompress(data[: complete_members_end(data)])


def repair_tail(path: Path) -> int:
    """Cut an incomplete last member off ``path``; returns how many bytes were cut."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    end = complete_members_end(data)
    if end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    return len(data) - end


def append_member(path: Path, text: str) -> None:
    """Append ``text`` as one gzip member (parents created; the file closed again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    member = gzip.compress(text.encode(), mtime=0)
    with path.open("ab") as f:
        f.write(member)


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` by ``payload`` all at once (a temporary file renamed over it), so a
    reader or a crash never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
