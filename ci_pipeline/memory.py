"""Handing freed memory back to the operating system between pipeline steps.

A large step (a 3.4M-cell table through harmonisation and breakdown) frees its frames when it ends, but
neither glibc's allocator nor Arrow's memory pool returns that memory to the system by itself: the
process keeps it for reuse, and the next step starts from the last one's peak. In one process that runs
every step (Dagster's in-process executor, `make run`) the peaks would stack. Asking both allocators to
release what they no longer use costs a few milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

_LIBC_NAME = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_LIBC_NAME) if _LIBC_NAME else None
# malloc_trim is glibc's; musl and macOS return freed pages on their own and lack it.
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)


def release_freed_memory() -> None:
    """Return to the system the memory that Arrow's pool and the C allocator hold but no longer use."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
