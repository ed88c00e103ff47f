"""Handing freed memory back to the operating system, and keeping less of it.

Python and onnxruntime free what a large request or a model load used, but glibc keeps
freed pages in its heap for reuse; after a load (onnxruntime parses the model's 100,000
tree nodes through temporary copies) or a 10,000-customer batch, a worker would hold tens
of MiB it no longer uses. glibc's `malloc_trim` returns them. Where the C library has
none (musl, macOS) nothing here changes the heap: `CAN_RELEASE` is false, and the
middleware that releases memory after large answers stands aside.

Before that, a large request's cyclic garbage (frames, futures, exceptions: about 3 MiB
after the bench's batches) is collected at once rather than whenever Python's oldest
generation next fills. That full collection walks every object tracked: `settle` moves
what a worker holds for good (the app, the loaded models) out of its reach with
`gc.freeze`, so each collection costs about a millisecond instead of about 45.

glibc also gives each new thread that allocates a heap of its own (an "arena"), up to
eight per core: the scoring, explaining, thread-pool and decision-log threads each keep
their own free pages and their own fragments. `share_heaps` caps the arenas at
`HEAP_ARENAS` (measured: a worker held about 15 MiB less after the bench's traffic),
unless the operator set glibc's own MALLOC_ARENA_MAX, which then stands.
"""

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Callable
from typing import Final

# glibc's mallopt parameter for the most arenas (malloc.h, as MALLOC_ARENA_MAX sets it),
# and how many a worker keeps: about one per core of the machines it is sized for.
_M_ARENA_MAX: Final = -8
HEAP_ARENAS: Final = 2


def _glibc_function(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """A function of glibc's malloc taking `argtypes` and returning an int, or None where
    the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    function = getattr(libc, name, None)
    if function is not None:
        function.argtypes = argtypes
        function.restype = ctypes.c_int
    return function


_MALLOC_TRIM: Final = _glibc_function("malloc_trim", [ctypes.c_size_t])
_MALLOPT: Final = _glibc_function("mallopt", [ctypes.c_int, ctypes.c_int])
CAN_RELEASE: Final = _MALLOC_TRIM is not None


def release_freed_memory() -> None:
    """Collect cyclic garbage, then return the heap's free pages to the operating system
    (a few milliseconds: call it off the event loop, after the work whose memory it
    returns)."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def settle() -> None:
    """Exempt every object alive now from later garbage collections, after collecting
    those that are garbage: call it once, when the worker has loaded its models and
    before it serves. A frozen object is still freed when nothing refers to it; it only
    escapes the search for cycles, and a model holds none (a test checks that a dropped
    predictor is freed without the collector). Not after a later load: a request in
    flight then would be frozen with the model, and its cycles kept for good once it
    is garbage; a model loaded later is a few thousand Python objects (its manifest),
    which collections walk at little cost."""
    release_freed_memory()
    gc.freeze()


def share_heaps() -> None:
    """Cap glibc's heaps at HEAP_ARENAS for threads started from now on (call before the
    worker starts its threads); nothing where the C library has no mallopt, or where
    MALLOC_ARENA_MAX already says how many."""
    if _MALLOPT is not None and "MALLOC_ARENA_MAX" not in os.environ:
        _MALLOPT(_M_ARENA_MAX, HEAP_ARENAS)
