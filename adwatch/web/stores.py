"""Store connections for the server's requests: leased, one request at a time each.

FastAPI runs plain ``def`` endpoints on a pool of worker threads that come and go. A SQLite
connection must serve one request at a time (the SQLite store's search uses a
per-connection temporary table and its writes are transactions), so each request leases a
store for its whole length — whichever threads its parts run on — and gives it back. Idle
stores are kept for the next requests, at most ``keep`` of them; the rest are closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import Request

from index.store import Store


class StorePool:
    def __init__(self, opener: Callable[[], Store], keep: int = 8) -> None:
        self._opener = opener
        self._keep = keep
        self._idle: list[Store] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def lease(self) -> Iterator[Store]:
        with self._lock:
            store = self._idle.pop() if self._idle else None
        if store is None:
            store = self._opener()
        try:
            yield store
        finally:
            self._give_back(store)

    def _give_back(self, store: Store) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append(store)
                return
        _close(store)

    @property
    def idle(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for store in idle:
            _close(store)


def _close(store: Store) -> None:
    try:
        store.close()
    except Exception:  # closing: nothing left to protect
        pass


def request_store(request: Request) -> Iterator[Store]:
    """A FastAPI dependency: the store this request leases (given back when it is answered)."""
    with request.app.state.stores.lease() as store:
        yield store
