"""Freed memory goes back to the operating system after the work that used it: a model
load, and a request that read or sent a megabyte or more."""

import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from starlette.types import Message, Receive, Scope, Send

import service.heap as heap
import service.middleware.memory_release as memory_release
from model_store import ModelStore
from model_store.runtime import Predictor
from service.heap import CAN_RELEASE, release_freed_memory, settle, share_heaps
from service.middleware.memory_release import MemoryReleaseMiddleware
from service.registry import ModelRegistry

pytestmark = pytest.mark.anyio

LIMIT = MemoryReleaseMiddleware.RELEASE_AFTER_BYTES


def test_this_machine_can_release_and_doing_so_is_harmless() -> None:
    assert CAN_RELEASE  # glibc, as on every machine and image the service runs on
    release_freed_memory()


class _Cycle:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_release_collects_cycles_and_settle_freezes_what_is_held() -> None:
    collect = gc.isenabled()
    gc.disable()  # only the calls under test may collect
    frozen = gc.get_freeze_count()
    try:
        garbage = _Cycle()
        alive = weakref.ref(garbage)
        del garbage
        release_freed_memory()  # after a large request: its cycles go at once
        assert alive() is None

        held = _Cycle()
        garbage = _Cycle()
        dropped = weakref.ref(garbage)
        del garbage
        settle()  # what is garbage now is collected, what is alive is frozen
        assert dropped() is None
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        if collect:
            gc.enable()
    assert held.me is held


def test_a_model_load_frees_its_copies_and_freezes_nothing(synthetic_store: Path) -> None:
    """Only start-up freezes: a request in flight during a later load must stay within
    the collector's reach, so that its cycles are freed once it is garbage."""
    registry = ModelRegistry(ModelStore(synthetic_store), "production", cache_size=1)
    frozen = gc.get_freeze_count()
    registry.load_default()
    assert registry.default is not None
    assert gc.get_freeze_count() == frozen


def test_a_c_library_without_the_function_gives_none() -> None:
    """musl or macOS: no malloc_trim or mallopt, so nothing is called."""
    assert heap._glibc_function("no_such_malloc_function", []) is None


def test_an_operators_arena_setting_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(heap, "_MALLOPT", lambda *arguments: calls.append(arguments) or 1)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    share_heaps()
    assert calls == []
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    share_heaps()
    assert calls == [(heap._M_ARENA_MAX, heap.HEAP_ARENAS)]


def test_a_dropped_model_is_freed_without_the_collector(synthetic_store: Path) -> None:
    """Frozen objects escape the search for cycles: a model a swap drops must hold none,
    so that freezing a worker's models never keeps a replaced one alive."""
    collect = gc.isenabled()
    gc.disable()
    try:
        predictor = Predictor(ModelStore(synthetic_store).load("production"))
        predictor.score(np.ones((600, 23)), explain=True)  # its thread pools started
        parts = [weakref.ref(p) for p in (predictor, predictor._model, predictor._explainer)]
        del predictor
        assert [part() for part in parts] == [None, None, None]
    finally:
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
