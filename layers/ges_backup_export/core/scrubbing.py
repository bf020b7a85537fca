"""Secrets this process has seen (GES tokens, the IAM password), taken out of any text that leaves it.

Errors built from an answer (GES's or IAM's error text, a requests exception) could repeat what was
sent; every such text passes through `Scrubber.scrub` before it reaches an error or a log line.
"""

from __future__ import annotations

import threading

MASK = "***"


class Scrubber:
    """Thread-safe: the export function reads and scrubs from several threads of one invocation."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Remember `secret`, so that `scrub` removes it from now on (empty strings are ignored)."""
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        """`text` with every remembered secret replaced by `***`."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)  # a longer one may contain a shorter one
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text
