"""GeminiImages.close() ends the calls still in flight, and a call after it sends nothing.

The SDK's async calls run on one event loop on its own thread; a caller's thread waits
on the call's future. close() used to close the SDK's async client and stop that loop.
Closing the client ends a request already on a connection, but not one still connecting
(a host that drops packets, here a listener whose accept queue is full): its task stayed
pending on a loop that no longer ran, so even its own time limit never fired and the
caller's thread waited forever. In `canvascast images`, Ctrl-C during such a call closes
the engine, and the interpreter then joins the batch's threads at exit: it hung.

The real google-genai SDK is used; the only wrapper around it tells the test that the
call has started, so there is no sleeping.
"""

from __future__ import annotations

import socket
import threading

import pytest
from fake_genai_server import Reply, image_body

from modal_functions.errors import CapabilityError
from modal_functions.images.gemini import GeminiImages, make_client

REAL_CLOSE = GeminiImages.close  # conftest makes close() a no-op for the shared clients; these tests own theirs
HANG_BOUND_S = 20  # only bounds a hang; the call's own limit (60 s) is far above it


@pytest.fixture
def never_accepting():
    """A listening socket whose one-slot accept queue is already full: further SYNs are dropped."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    filler = socket.create_connection(srv.getsockname()[:2])  # takes the one slot; nobody ever accepts
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        filler.close()
        srv.close()


def start_call(provider: GeminiImages) -> tuple[threading.Thread, list, threading.Event]:
    started = threading.Event()
    real = provider.client.aio.models.generate_content

    async def signalling(**kwargs):
        started.set()
        return await real(**kwargs)

    provider.client.aio.models.generate_content = signalling
    outcome: list = []

    def run():
        try:
            outcome.append(provider.generate_once("a lighthouse", model="gemini-2.5-flash-image", aspect_ratio="1:1"))
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)  # daemon: a hang must not also hang pytest's exit
    thread.start()
    assert started.wait(HANG_BOUND_S)
    return thread, outcome, started


def test_close_ends_a_call_still_connecting(never_accepting):
    provider = GeminiImages(make_client(api_key="k", base_url=never_accepting, timeout_s=60), timeout_s=60)
    thread, outcome, _ = start_call(provider)

    REAL_CLOSE(provider)
    thread.join(HANG_BOUND_S)

    assert not thread.is_alive(), "the caller's thread still waits on a call close() left behind"
    (error,) = outcome
    assert isinstance(error, CapabilityError) and error.code == "interrupted", error


def test_close_ends_a_call_whose_reply_never_finishes(fake):
    answering = threading.Event()

    def body(request):
        answering.set()
        return image_body(request)

    fake.push(Reply(200, body, drip=3600))  # headers and a first piece, then nothing (until the fake's reset)
    provider = GeminiImages(make_client(api_key="k", base_url=fake.url, timeout_s=60), timeout_s=60)
    thread, outcome, _ = start_call(provider)
    assert answering.wait(HANG_BOUND_S)

    REAL_CLOSE(provider)
    thread.join(HANG_BOUND_S)

    assert not thread.is_alive()
    (error,) = outcome
    assert isinstance(error, CapabilityError) and error.code == "interrupted", error


def test_a_call_after_close_sends_nothing(fake):
    provider = GeminiImages(make_client(api_key="k", base_url=fake.url, timeout_s=60), timeout_s=60)
    provider.generate_once("first", model="gemini-2.5-flash-image", aspect_ratio="1:1")
    REAL_CLOSE(provider)

    with pytest.raises(CapabilityError) as raised:
        provider.generate_once("after close", model="gemini-2.5-flash-image", aspect_ratio="1:1")

    assert raised.value.code == "interrupted"
    assert len(fake.requests) == 1, "a call after close() was sent (and would be charged) on the closed client"
    assert provider._loop is None, "close() left, or a later call started, an event loop thread"
