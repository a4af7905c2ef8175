"""The watch over streams' client sockets (caseops.events.watch), on socket pairs: a peer
that closes or resets is reported once; a peer that is quiet or sends bytes is not."""

from __future__ import annotations

import socket
import struct
import threading
import time

from caseops.events.watch import Watcher, limit_send_wait, peer_gone

WAIT = 10.0  # a guard against a hang: the watch reports within milliseconds


def test_peek_tells_a_closed_peer_from_a_quiet_or_talking_one():
    server, client = socket.socketpair()
    try:
        assert peer_gone(server) is None  # nothing to read
        client.sendall(b"x")
        assert peer_gone(server) is False
        assert server.recv(1) == b"x"  # the peek left the byte for the reader
        client.close()
        assert peer_gone(server) is True
    finally:
        server.close()


def test_a_reset_connection_is_gone():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # RST instead of FIN
        server.settimeout(WAIT)
        assert peer_gone_eventually(server)
    finally:
        server.close()
        listener.close()


def peer_gone_eventually(sock: socket.socket) -> bool:
    done = threading.Event()
    watcher = Watcher()
    assert watcher.watch(sock, done.set)
    return done.wait(WAIT)


def test_the_watcher_reports_only_closed_peers_and_forgets_unwatched_ones():
    watcher = Watcher()
    pairs = [socket.socketpair() for _ in range(3)]
    told = {i: threading.Event() for i in range(3)}
    try:
        for i, (server, _) in enumerate(pairs):
            assert watcher.watch(server, told[i].set)
        assert watcher.watching() == 3
        watcher.unwatch(pairs[2][0])  # the stream ended by itself
        pairs[2][1].close()
        pairs[0][1].close()  # this client goes away
        assert told[0].wait(WAIT)
        pairs[1][1].sendall(b"GET / HTTP/1.1\r\n")  # bytes: not a close, no longer watched
        for _ in range(100):
            if watcher.watching() == 0:
                break
            time.sleep(0.05)
        assert watcher.watching() == 0
        assert not told[1].is_set()
        assert not told[2].is_set()
    finally:
        for server, client in pairs:
            server.close()
            client.close()


def test_a_write_to_a_client_that_stopped_reading_fails_instead_of_blocking():
    server, client = socket.socketpair()
    failed: list[OSError] = []

    def write() -> None:
        try:
            for _ in range(100_000):  # far beyond any socket buffer; the client reads nothing
                server.sendall(b"data: {}\n\n" * 100)
        except OSError as error:
            failed.append(error)

    try:
        assert limit_send_wait(server, 0.2)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(WAIT)  # without the limit the write would block for ever
        assert failed, "the write is still blocked"
    finally:
        server.close()
        client.close()
