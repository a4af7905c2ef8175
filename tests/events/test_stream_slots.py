"""A stream whose client went away frees its slot at once, not at its next write.

Through a real gunicorn (one worker, so every stream lands in the same process and its
``CASEOPS_EVENT_STREAMS`` semaphore) with 3 stream slots and a heartbeat far longer than
the test: without the watch on the client socket, a closed stream's slot would stay held
until that heartbeat, and every reopen below would be answered 503 too_many_streams.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from caseops.events.publish import publish
from caseops.extensions import db
from tests.live import LiveServer, start_server, stop_server

SLOTS = 3
HEARTBEAT = 300  # seconds: longer than this test, so no write can find a closed client
# A guard against a hang, not a performance bound: freeing a slot takes milliseconds,
# and without the watch it would take the 300 s heartbeat.
DEADLINE = 20.0


@pytest.fixture
def slots_server(request, app, database_url, tmp_path) -> Iterator[LiveServer]:
    """gunicorn with one worker, ``SLOTS`` stream slots and a 300 s heartbeat."""
    env = {"CASEOPS_EVENT_STREAMS": str(SLOTS), "CASEOPS_EVENTS_HEARTBEAT": str(HEARTBEAT)}
    server = start_server(database_url, tmp_path, workers=1, env=env)
    try:
        yield server
    finally:
        stop_server(server, request)


class Opened:
    """One ``GET /api/v1/me/events`` on a plain socket: its status, and for a 200 the
    socket left open after the stream's first line (``retry:``)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        self.reader = self.sock.makefile("rb")
        self.status = int(self.reader.readline().split()[1])
        headers = b""
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            headers += line
        if self.status == 200:
            assert self.reader.readline().startswith(b"retry:"), headers
        else:
            self.body = self.reader.read()
            self.close()

    def next_data(self) -> dict:
        """The next event's JSON (the socket's timeout guards against a hang)."""
        while line := self.reader.readline():
            if line.startswith(b"data: "):
                return json.loads(line[6:])
        raise AssertionError("the stream ended")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.reader.close()
        self.sock.close()


def _open_when_free(url: str, token: str) -> Opened:
    deadline = time.monotonic() + DEADLINE
    while True:
        opened = Opened(url, token)
        if opened.status == 200 or time.monotonic() > deadline:
            return opened
        time.sleep(0.1)


def test_closing_a_stream_client_side_frees_its_slot_for_the_next(events, slots_server):
    url = slots_server.url_for("/api/v1/me/events")
    token = events.token("hha.case_worker")
    held = [Opened(url, token) for _ in range(SLOTS)]
    try:
        assert [s.status for s in held] == [200] * SLOTS, slots_server.log_tail()
        refused = Opened(url, token)
        assert refused.status == 503
        assert b"too_many_streams" in refused.body

        # Two clients go away without a word; the server has nothing to write to them.
        for stream in held[:2]:
            stream.close()
        reopened = [_open_when_free(url, token) for _ in range(2)]
        held += reopened
        assert [s.status for s in reopened] == [200, 200], slots_server.log_tail()

        # Only the closed streams were freed: the one still open keeps its slot, and
        # still hears what is addressed to it.
        again = Opened(url, token)
        assert again.status == 503
        told = publish(
            "task.assigned",
            users=["hha.case_worker"],
            data={"task_id": "tsk_0001", "client_id": "cl_0001"},
            session=db.session,
        )
        db.session.commit()
        assert held[2].next_data()["id"] == told[0]
    finally:
        for stream in held:
            stream.close()
