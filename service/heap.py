"""Handing freed memory back to the operating system.

Python and onnxruntime free what a large request or a model load used, but glibc keeps
freed pages in its heap for reuse; after a load (onnxruntime parses the model's 100,000
tree nodes through temporary copies) or a 10,000-customer batch, a worker would hold tens
of MiB it no longer uses. glibc's `malloc_trim` returns them. Where the C library has
none (musl, macOS) `release_freed_memory` does nothing.
"""

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Final


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return None if trim is None else lambda: trim(0)


_TRIM_HEAP: Final = _heap_trimmer()

CAN_RELEASE: Final = _TRIM_HEAP is not None


def release_freed_memory() -> None:
    """Return the heap's free pages to the operating system (a few milliseconds: call it
    off the event loop, after the work whose memory it returns)."""
    if _TRIM_HEAP is not None:
        _TRIM_HEAP()
