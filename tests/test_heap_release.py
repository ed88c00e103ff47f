"""Freed memory goes back to the operating system after the work that used it: a model
load, and a request that read or sent a megabyte or more."""

import gc
import weakref
from collections.abc import Callable

import pytest
from starlette.types import Message, Receive, Scope, Send

import service.middleware.memory_release as memory_release
from service.heap import CAN_RELEASE, release_freed_memory, settle
from service.middleware.memory_release import MemoryReleaseMiddleware

pytestmark = pytest.mark.anyio

LIMIT = MemoryReleaseMiddleware.RELEASE_AFTER_BYTES


def test_this_machine_can_release_and_doing_so_is_harmless() -> None:
    assert CAN_RELEASE  # glibc, as on every machine and image the service runs on
    release_freed_memory()


class _Cycle:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_release_collects_cycles_and_settle_frees_a_frozen_cycle_at_the_next_load() -> None:
    collect = gc.isenabled()
    gc.disable()  # only the calls under test may collect
    try:
        garbage = _Cycle()
        alive = weakref.ref(garbage)
        del garbage
        release_freed_memory()  # after a large request: its cycles go at once
        assert alive() is None

        held = _Cycle()  # held for good when the worker settles...
        alive = weakref.ref(held)
        settle()
        assert gc.get_freeze_count() > 0
        del held  # ...then dropped, as a replaced model is
        release_freed_memory()  # frozen: out of the collections that follow requests
        assert alive() is not None
        settle()  # the next load thaws, collects, and freezes what is still alive
        assert alive() is None
    finally:
        gc.unfreeze()
        if collect:
            gc.enable()


def _app(answer_bytes: int) -> Callable[[Scope, Receive, Send], object]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * answer_bytes})

    return app


@pytest.mark.parametrize(
    ("body_bytes", "answer_bytes", "released"),
    [
        (100, 100, 0),
        (LIMIT - 200, 100, 0),
        (LIMIT, 0, 1),  # a large batch read
        (1_000, LIMIT, 1),  # a small body with a large answer: reasons for 1,000
        (LIMIT // 2, LIMIT // 2, 1),
    ],
)
async def test_release_follows_the_bytes_read_and_sent(
    monkeypatch: pytest.MonkeyPatch, body_bytes: int, answer_bytes: int, released: int
) -> None:
    calls: list[None] = []
    monkeypatch.setattr(memory_release, "release_freed_memory", lambda: calls.append(None))
    middleware = MemoryReleaseMiddleware(_app(answer_bytes))
    parts = [b"a" * (body_bytes // 2), b"b" * (body_bytes - body_bytes // 2)]
    messages = [
        {"type": "http.request", "body": part, "more_body": k == 0} for k, part in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware({"type": "http"}, receive, send)
    assert len(calls) == released
    assert sum(len(m.get("body", b"")) for m in sent) == answer_bytes  # passed on untouched
