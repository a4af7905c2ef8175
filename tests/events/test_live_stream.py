"""Through a real gunicorn with 2 workers (tests/live.py): a record change the worker sees
reaches their open stream (the notifier and the hub of the server's own processes:
LISTEN/NOTIFY on PostgreSQL, polling on SQLite); a change they cannot see and another
agency's worker get nothing; the stream carries ids and kinds only."""

from __future__ import annotations

import contextlib
import copy
import json
import queue
import socket
import threading
from urllib.parse import urlsplit

from tests.fixtures.events import housing_update
from tests.fixtures.records import MARIA

# A guard against a hang, not a performance bound (the delay is measured by bench/events.py).
WAIT = 15.0


class Stream:
    """An open ``/api/v1/me/events`` over a plain socket (HTTP/1.0: no chunking, so the
    body is the event lines as sent), read by a thread of its own; ``close`` shuts the
    socket, which ends the reader at once."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n{extra}\r\n".encode()
        )
        self.reader = self.sock.makefile("r", encoding="utf-8", newline="\n")
        status = self.reader.readline()
        headers = {}
        while (line := self.reader.readline().rstrip("\r\n")) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        assert " 200 " in status, status
        assert headers["content-type"].startswith("text/event-stream")
        self.events: queue.Queue[dict] = queue.Queue()
        self.opened = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.opened.wait(WAIT), "the stream sent nothing"

    def _read(self) -> None:
        block: dict[str, str] = {}
        try:
            for raw in self.reader:
                line = raw.rstrip("\n")
                if line.startswith("retry:"):
                    self.opened.set()
                if line == "":
                    if "data" in block:
                        self.events.put({"id": block.get("id"), "data": json.loads(block["data"])})
                    block = {}
                elif not line.startswith(":") and ": " in line:
                    name, value = line.split(": ", 1)
                    block[name] = value
        except (OSError, ValueError):
            return  # closed by the test

    def next(self) -> dict:
        return self.events.get(timeout=WAIT)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def test_a_visible_change_reaches_the_open_stream_and_nothing_else_does(
    live_server, events, maria_in_care
):
    url = live_server.url_for("/api/v1/me/events")
    mine = Stream(url, events.token("hha.case_worker"))
    theirs = Stream(url, events.token("cchc.case_worker"))  # no relationship with Maria
    try:
        # first a change to cchc's health record, which hha's worker cannot see ...
        health = copy.deepcopy(MARIA) | {"category": "health", "source_version": 2}
        health["data"] = {"conditions": ["flu"]}
        events.write("cchc", "C-1", health)
        # ... then one to hha's housing record, which they see
        events.write("hha", "H-1", housing_update(2))
        event = mine.next()
    finally:
        mine.close()
        theirs.close()
    assert event["data"]["kind"] == "client.updated", live_server.log_tail()
    assert event["data"]["data"] == {"client_id": maria_in_care}
    assert set(event["data"]) == {"id", "kind", "created_at", "data"}
    assert int(event["id"]) == event["data"]["id"]
    # The notifier takes changes in order, so by the time the housing change was told the
    # health change had been decided: it told nobody, and cchc's worker heard nothing.
    assert [n["kind"] for n in events.list("hha.case_worker")] == ["client.updated"]
    assert events.list("cchc.case_worker") == []
    assert theirs.events.empty()
    # Reconnecting with Last-Event-ID before it gets it again (the browser's resume).
    again = Stream(url, events.token("hha.case_worker"), last_event_id=str(int(event["id"]) - 1))
    try:
        assert again.next()["id"] == event["id"]
    finally:
        again.close()
