"""Hands the memory of a large request back to the operating system once it is answered.

After a request this large (a batch of about 2,500 customers and more), the memory its
parsed body used is freed but fragmented, and glibc would keep it: a worker that once
scored 10,000 customers would hold about 50 MiB more for good. glibc's `malloc_trim`
returns it; where the C library has none (musl, macOS) this middleware does nothing.
"""

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return None if trim is None else lambda: trim(0)


_TRIM_HEAP: Final = _heap_trimmer()


class MemoryReleaseMiddleware:
    RELEASE_AFTER_BYTES: Final = 1 << 20

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _TRIM_HEAP is None:
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            if received >= self.RELEASE_AFTER_BYTES:
                await asyncio.to_thread(_TRIM_HEAP)
