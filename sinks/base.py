"""The sink protocol (quix-streams style): `add` items, `flush` writes them, idempotently."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Sink(Protocol[T]):
    def add(self, item: T) -> None: ...
    def flush(self) -> None: ...


class BatchingSink(Generic[T]):
    """Collects items; `write(batch)` is the one method a concrete sink implements."""

    def __init__(self, batch_size: int = 500) -> None:
        self.batch_size = batch_size
        self._pending: list[T] = []

    def add(self, item: T) -> None:
        self._pending.append(item)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            self.write(batch)
        except BaseException:
            self._pending = batch + self._pending  # keep them for the next attempt
            raise

    def write(self, batch: list[T]) -> None:
        raise NotImplementedError


class ListSink(BatchingSink[T]):
    """Keeps everything in memory: for tests and the demo summary."""

    def __init__(self) -> None:
        super().__init__(batch_size=1)
        self.items: list[T] = []

    def write(self, batch: list[T]) -> None:
        self.items.extend(batch)
