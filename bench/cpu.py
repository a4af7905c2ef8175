"""CPU used by the processes of a bench's servers, read from /proc (Linux).

At saturation on a small machine throughput is CPU per request (issue 20), so the benches
print where each request's CPU went — the app server's processes, PostgreSQL's — next to
the throughput they measure, and a shared machine's other work is not counted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(match: Callable[[str, list[str]], bool]) -> dict[int, int]:
    """utime + stime in clock ticks of every process ``match(name, stat fields)`` takes."""
    used = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            if match(name, fields):
                used[int(entry.name)] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return used


class Cpu:
    """CPU seconds used so far by the processes of one process group (a gunicorn master
    and its workers, started with ``start_new_session``)."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid

    def now(self) -> float:
        return sum(_ticks(lambda _, fields: int(fields[2]) == self.pgid).values()) / _TICK


class PostgresCpu:
    """CPU seconds PostgreSQL's processes used between ``start`` and ``stop``: backends
    present at both reads count their difference, backends started meanwhile count in
    full; a backend that ended meanwhile takes its count along (under a steady load the
    pools keep theirs, so that is little)."""

    def __init__(self) -> None:
        self.before: dict[int, int] = {}
        # after ``stop``: each process's share, seconds, largest first (a request that
        # wakes two backends shows two shares where one that wakes one shows one)
        self.by_process: list[float] = []

    @staticmethod
    def _read() -> dict[int, int]:
        return _ticks(lambda name, _: name.startswith("postgres"))

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> float:
        after = self._read()
        spent = [used - self.before.get(pid, 0) for pid, used in after.items()]
        self.by_process = sorted((ticks / _TICK for ticks in spent if ticks > 0), reverse=True)
        return sum(spent) / _TICK
