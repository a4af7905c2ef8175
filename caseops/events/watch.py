"""Noticing at once that a stream's client went away, not at the stream's next write.

A stream waits on its mailbox between events; a client that closes its connection then
is found out only when the server next writes to the dead socket (an event, or the
heartbeat every 15 s, and a write into a closed connection usually fails only the time
after). Until then the stream holds its slot (``CASEOPS_EVENT_STREAMS``) and its thread,
so a reconnect storm (a deploy, a proxy restart, the bench's second round) met 503
``too_many_streams`` while most slots belonged to nobody.

So each gunicorn worker process runs one thread that polls the client sockets of its
open streams (``environ["gunicorn.socket"]``) for readability: an SSE client sends
nothing after its request, so a readable socket whose ``recv(MSG_PEEK)`` is ``b""`` (an
orderly close) or fails (a reset) means the client is gone, and the stream is woken to
end and free its slot. This is the check nginx makes for a client that closes an
upstream request early. A socket readable with bytes (a client pipelining a request
after the stream) is dropped from the watch, and that stream is found out at its next
write as before: level-triggered polling would otherwise spin on it. One thread per
process and no periodic work per stream: 500 idle streams cost nothing here.

A server without ``gunicorn.socket`` (``flask run``, a test client) watches nothing:
its streams end at their next write, as before.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import struct
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
# Bounds how long a registration waits to be seen by a selector that only reads its set
# on entry (poll/select, off Linux); epoll and kqueue see it at once.
SELECT_TIMEOUT = 1.0
_GONE_ERRORS = (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE, errno.ETIMEDOUT, errno.EBADF)


def peer_gone(sock: socket.socket) -> bool | None:
    """True when the peer closed or reset the connection, False when it sent bytes,
    None when nothing is there to read (a spurious wake-up). Reads nothing: the bytes, if
    any, stay for whoever reads the socket (the unbound ``socket.socket.recv`` peeks at
    the raw connection even under TLS, where ``SSLSocket.recv`` refuses flags)."""
    try:
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as error:
        if error.errno in _GONE_ERRORS:
            return True
        raise
    return data == b""


def limit_send_wait(sock: socket.socket, seconds: float) -> bool:
    """Make a write that cannot progress for ``seconds`` fail (``SO_SNDTIMEO``) instead of
    blocking for ever. A client that stops reading but keeps its connection open (a
    suspended laptop, a stuck proxy) is not "gone" to the watch; without this the
    stream's thread would block in its next write once the socket's buffer is full, and
    hold its slot and thread with no end (the lifetime is checked between writes). At
    the kernel level, so it leaves the socket's blocking mode (gunicorn's) as it is, and
    the watch's peek never waits. False where the option is not available."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    except (OSError, AttributeError):
        return False
    return True


class Watcher:
    """One process's watch over its streams' client sockets (see the module docstring)."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, on_gone: Callable[[], None]) -> bool:
        """Call ``on_gone`` (from the watcher's thread) once the peer of ``sock`` goes
        away, until ``unwatch``. False when the socket cannot be watched (the caller then
        learns of the close at its next write)."""
        with self._lock:
            try:
                self._selector.register(sock, selectors.EVENT_READ, on_gone)
            except (KeyError, ValueError, OSError):
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="caseops-events-watch", daemon=True
                )
                self._thread.start()
        return True

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (before it is closed: the stream's end does this)."""
        with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)

    def watching(self) -> int:
        with self._lock:
            return len(self._selector.get_map())

    def _run(self) -> None:
        while True:
            try:
                ready = self._selector.select(SELECT_TIMEOUT)
            except OSError:
                log.exception("event stream watch failed; going on")
                continue
            for key, _ in ready:
                self._check(key)

    def _check(self, key: selectors.SelectorKey) -> None:
        sock = key.fileobj
        try:
            gone = peer_gone(sock)  # type: ignore[arg-type]
        except (OSError, ValueError):
            gone = True  # the socket itself is unusable: the stream cannot write either
        if gone is None:
            return
        with self._lock:
            current = self._selector.get_map().get(key.fd)
            if current is None or current.fileobj is not sock:
                return  # unwatched meanwhile (the stream ended by itself)
            self._selector.unregister(sock)
        if gone:
            key.data()


_watchers: dict[int, Watcher] = {}
_watchers_lock = threading.Lock()


def watcher() -> Watcher:
    """This process's watcher (one per pid: a forked worker starts its own thread)."""
    with _watchers_lock:
        pid = os.getpid()
        if pid not in _watchers:
            _watchers[pid] = Watcher()
        return _watchers[pid]
