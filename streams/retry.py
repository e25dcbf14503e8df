"""Backoff for transient failures: exponential, capped, with full jitter, and endless."""

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        """Delays to sleep between attempts; never runs out (we never give up on a store)."""
        ceiling = self.initial
        while True:
            yield random.uniform(ceiling / 2, ceiling)  # noqa: S311 -- jitter, not crypto
            ceiling = min(ceiling * self.factor, self.maximum)
