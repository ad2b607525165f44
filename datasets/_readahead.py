"""Reading remote units: retries, and a bounded read-ahead in a background thread.

A stream whose files are remote reads each unit (a Parquet row group, a CSV byte range)
with one open and ranged reads. While the loader converts the rows of one unit, a
background thread already fetches and decodes the next units of the epoch's plan, at most
``READ_AHEAD_BYTES`` of decoded Arrow data ahead, so that a slow store does not stall the
loader and a fast one is not left idle. A transient error (a timeout, a broken connection,
throttling) reads the unit again, a bounded number of times with backoff, skipping the
chunks already yielded. Local files are read as before, without either.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pyarrow as pa

from tabloader._plan import EpochLayout
from tabloader.datasets._fingerprint import read_checked
from tabloader.datasets._remote import RemotePath, retrying
from tabloader.datasets._stream_rows import Chunk, StreamRows, Unit

__all__ = ["READ_AHEAD_BYTES", "ReadAhead", "RemoteUnits"]

#: decoded bytes the read-ahead may hold beyond the unit the loader reads
READ_AHEAD_BYTES = 64 << 20
#: units fetched at the same time (each one request, or a few coalesced ones, at a time)
READ_AHEAD_THREADS = 3

Item = tuple[pa.Table, int]
_THREAD = "tabloader-read-ahead"


def _in_read_ahead() -> bool:
    return threading.current_thread().name == _THREAD


class ReadAhead:
    """Reads the units of ``plan`` in ``threads`` background threads, in plan order.

    Each thread takes the next units not yet taken (``group(plan, pos)`` of them, read
    together: adjacent row groups in one ranged read, say); ``read(units)`` gives their
    chunks as ``(index in units, chunk)``, in order.
    The chunks wait until :meth:`take` hands them out, at most ``budget`` bytes in all
    beyond the unit being read (whose reader never waits, so the loader never does for
    a unit that is not its next one); chunks of a unit the loader left early are dropped.
    """

    def __init__(
        self,
        plan: list[Unit],
        columns: list[str],
        read: Callable[[list[Unit]], Iterator[tuple[int, Item]]],
        budget: int = READ_AHEAD_BYTES,
        threads: int = READ_AHEAD_THREADS,
        group: Callable[[list[Unit], int], int] = lambda plan, pos: 1,
    ) -> None:
        self._plan = plan
        self.columns = list(columns)
        self._read = read
        self._group = group
        self._budget = budget
        self._queues: dict[int, deque[tuple[str, Any, int]]] = {}
        self._bytes = 0
        self._claimed = 0  # plan positions handed to a thread so far
        self._reading = 0  # the plan position the loader reads (or waits for)
        self._next = 0  # the plan position take() looks from
        self._stop = False
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=_THREAD, daemon=True)
            for _ in range(max(1, min(threads, len(plan))))
        ]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stop or self._claimed >= len(self._plan):
                    return
                pos = self._claimed
                n = max(1, min(self._group(self._plan, pos), len(self._plan) - pos))
                self._claimed += n
                for p in range(pos, pos + n):
                    self._queues[p] = deque()
            if self._read_group(pos, n) == "stop":
                return

    def _read_group(self, pos: int, n: int) -> str:
        """Queue the chunks of the units ``pos .. pos + n - 1``, read together."""
        done = 0  # units of the group whose chunks are all queued
        state = "ok"
        try:
            for i, item in self._read(self._plan[pos : pos + n]):
                while done < i:
                    state = self._put(pos + done, "end", None, 0)
                    done += 1
                if state == "stop":
                    return state
                state = self._put(pos + i, "chunk", item, item[0].nbytes)
                if state == "stop" or (state == "left" and pos + n <= self._reading):
                    return state
        except BaseException as exc:  # handed to the loader, raised where it reads
            for p in range(pos + done, pos + n):
                state = self._put(p, "error", exc, 0)
            return state
        for p in range(pos + done, pos + n):
            state = self._put(p, "end", None, 0)
        return state

    def _put(self, pos: int, kind: str, payload: Any, size: int) -> str:
        """Queue a chunk: ``"ok"``, ``"left"`` (the loader is past this unit) or ``"stop"``."""
        with self._cond:
            while (
                not self._stop
                and pos > self._reading
                and self._bytes > 0
                and self._bytes + size > self._budget
            ):
                self._cond.wait()
            if self._stop:
                return "stop"
            queue = self._queues.get(pos)
            if queue is None or pos < self._reading:
                return "left"
            queue.append((kind, payload, size))
            self._bytes += size
            self._cond.notify_all()
            return "ok"

    def take(self, unit: Unit, columns: list[str]) -> Iterator[Item] | None:
        """The chunks of ``unit`` if it is planned next (``None``: read it directly)."""
        if list(columns) != self.columns:
            return None
        for pos in range(self._next, len(self._plan)):
            if self._plan[pos] is unit:
                self._next = pos + 1
                return self._drain(pos)
        return None

    def _drain(self, pos: int) -> Iterator[Item]:
        with self._cond:
            self._reading = max(self._reading, pos)
            for p in [p for p in self._queues if p < pos]:  # units left early
                self._bytes -= sum(size for _, _, size in self._queues.pop(p))
            self._cond.notify_all()
        while True:
            with self._cond:
                while not self._queues.get(pos):
                    if self._stop:  # closed: a reader thread waiting here ends too
                        return
                    self._cond.wait()
                kind, payload, size = self._queues[pos].popleft()
                self._bytes -= size
                if kind != "chunk":
                    del self._queues[pos]
                self._cond.notify_all()
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._queues.clear()
            self._bytes = 0
            self._cond.notify_all()


class RemoteUnits(StreamRows):
    """Retries and read-ahead for a stream's remote units (a mixin before TabularStream).

    The stream implements ``_fetch_unit`` (one unit's raw chunks); ``_read_unit`` reads
    local units with it directly, and remote ones with retries or from the read-ahead of
    the range being read (``_rows`` and ``_raw_pieces`` plan it).
    """

    _files: list[str]

    def _fetch_unit(self, unit: Unit, columns: list[str]) -> Iterator[Item]:
        raise NotImplementedError

    def _read_unit(self, unit: Unit, columns: list[str]) -> Iterator[Item]:
        path = self._files[unit.file]
        if not isinstance(path, RemotePath):
            return self._fetch_unit(unit, columns)
        return retrying(path, lambda: self._fetch_unit(unit, columns))

    def _group_size(self, plan: list[Unit], pos: int) -> int:
        """How many units from ``plan[pos]`` on to read together (see ``_fetch_group``)."""
        return 1

    def _fetch_group(self, units: list[Unit], columns: list[str]) -> Iterator[tuple[int, Item]]:
        """The raw chunks of several units read together, as ``(index in units, chunk)``."""
        raise NotImplementedError

    def _read_group(self, units: list[Unit], columns: list[str]) -> Iterator[tuple[int, Item]]:
        """:meth:`_fetch_group` with retries and the checks ``StreamRows._read`` makes."""
        if len(units) == 1:
            for item in self._read(units[0], columns):
                yield 0, item
            return
        path = self._files[units[0].file]
        fp = self._fingerprints[units[0].file] if self._fingerprints else None
        yield from read_checked(
            fp,
            self._unit_name(units[0]),
            path,
            lambda: retrying(path, lambda: self._fetch_group(units, columns)),
        )

    def _read(self, unit: Unit, columns: list[str]) -> Iterator[Item]:
        """A planned remote unit from the read-ahead, which read it with the stream's
        checks (``StreamRows._read``) in its thread; anything else as the base reads it."""
        ahead: ReadAhead | None = self.__dict__.get("_ahead")
        if ahead is not None and not _in_read_ahead():
            got = ahead.take(unit, columns)
            if got is not None:
                return got
        return super()._read(unit, columns)

    @contextmanager
    def _reading_ahead(self, layout: EpochLayout, start: int, stop: int) -> Iterator[None]:
        if not any(isinstance(f, RemotePath) for f in self._files) or _in_read_ahead():
            yield
            return
        plan = [self._units[ui] for ui, _, _ in layout.pieces(start, stop)]
        columns = list(self._columns)

        def read(units: list[Unit]) -> Iterator[tuple[int, Item]]:
            return self._read_group(units, columns)  # in a read-ahead thread

        ahead = ReadAhead(
            plan, columns, read, READ_AHEAD_BYTES, READ_AHEAD_THREADS, self._group_size
        )
        before = self.__dict__.get("_ahead")
        self.__dict__["_ahead"] = ahead
        try:
            yield
        finally:
            ahead.close()
            if self.__dict__.get("_ahead") is ahead:
                self.__dict__["_ahead"] = before

    def _rows(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Chunk]:
        with self._reading_ahead(layout, start, stop):
            yield from super()._rows(layout, start, stop)

    def _raw_pieces(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Any]:
        with self._reading_ahead(layout, start, stop):
            yield from super()._raw_pieces(layout, start, stop)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(cast("dict[str, Any]", super().__getstate__()))
        state.pop("_ahead", None)
        state.pop("_thread_files", None)
        return state
