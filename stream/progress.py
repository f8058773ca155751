"""Progress on stderr for long commands: a line at most every second, rate included."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, every_s: float = 1.0,
                 enabled: bool = True) -> None:
        self.label, self.total, self.every_s, self.enabled = label, total, every_s, enabled
        self.started = self._last = time.perf_counter()
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and self.done % 1000 == 0:
            now = time.perf_counter()
            if now - self._last >= self.every_s:
                self._last = now
                self._print(now)

    def _print(self, now: float, end: str = "\r") -> None:
        rate = self.done / max(now - self.started, 1e-9)
        of = f"/{self.total}" if self.total else ""
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        sys.stderr.write(f"{self.label}: {self.done}{of}{pct} ({rate:,.0f}/s){' ' * 8}{end}")
        sys.stderr.flush()

    def finish(self) -> float:
        """Print the final line; returns elapsed seconds."""
        now = time.perf_counter()
        if self.enabled:
            self._print(now, end="\n")
        return now - self.started
