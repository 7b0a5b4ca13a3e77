"""Turns on the loaded model, first come first served: the web chat's handlers and the API's requests alike."""
from __future__ import annotations

import collections
import contextlib
import threading
import time


class QueueTimeout(Exception):
    pass


class QueueCancelled(Exception):
    pass


class ModelQueue:
    """First come, first served turns on the loaded model, for the web chat's handlers and API requests alike.

    A waiter that gives up (time-out, client gone) leaves the line without holding anyone up. The holder may
    release from another thread than the one that acquired (Gradio runs a generator's steps in several threads).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._line: collections.deque = collections.deque()
        self._holder: object | None = None
        self.served = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def acquire(self, timeout: float | None = None, cancelled: threading.Event | None = None) -> float:
        """Wait for this caller's turn; return the seconds waited. QueueTimeout / QueueCancelled when given up."""
        me = object()
        started = time.perf_counter()
        deadline = None if timeout is None else started + timeout
        with self._cond:
            self._line.append(me)
            try:
                while not (self._holder is None and self._line[0] is me):
                    if cancelled is not None and cancelled.is_set():
                        raise QueueCancelled()
                    remaining = None if deadline is None else deadline - time.perf_counter()
                    if remaining is not None and remaining <= 0:
                        raise QueueTimeout()
                    self._cond.wait(timeout=0.25 if remaining is None else min(remaining, 0.25))
            except BaseException:
                self._line.remove(me)
                self._cond.notify_all()
                raise
            self._line.popleft()
            self._holder = me
            self.served += 1
        return time.perf_counter() - started

    @property
    def busy(self) -> bool:
        """Someone holds the model."""
        with self._cond:
            return self._holder is not None

    def try_acquire(self) -> bool:
        """Take the model only when nobody holds it or waits for it; never waits (for work that may be skipped)."""
        with self._cond:
            if self._holder is not None or self._line:
                return False
            self._holder = object()
            return True

    def release(self) -> None:
        with self._cond:
            self._holder = None
            self._cond.notify_all()

    @contextlib.contextmanager
    def turn(self, timeout: float | None = None):
        waited = self.acquire(timeout)
        try:
            yield waited
        finally:
            self.release()
