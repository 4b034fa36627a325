"""Seeded, named random streams: the only source of randomness in ekstwin.

Each consumer asks for its own stream by name (``rngs.stream("ec2.launch-latency")``). A stream's seed is
derived from the scenario seed and the name with a stable hash, so adding a new stream never changes the
numbers another stream produces, and the same scenario + seed gives byte-identical runs.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


def _derive(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """A family of named RNG streams derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        self._np: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> random.Random:
        """Return the stdlib ``random.Random`` for ``name`` (created on first use)."""
        s = self._streams.get(name)
        if s is None:
            s = random.Random(_derive(self.seed, name))
            self._streams[name] = s
        return s

    def numpy(self, name: str) -> np.random.Generator:
        """Return a numpy ``Generator`` for ``name`` (created on first use)."""
        g = self._np.get(name)
        if g is None:
            g = np.random.default_rng(_derive(self.seed, "np:" + name))
            self._np[name] = g
        return g


def stable_random(seed: int, name: str) -> random.Random:
    """A one-off deterministic generator for ``name`` under ``seed`` (for data derivation)."""
    return random.Random(_derive(seed, name))
