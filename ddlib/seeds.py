"""Seeds: every random draw in ddlib comes from a ``torch.Generator`` seeded explicitly, made here."""
from __future__ import annotations

from typing import Any

import torch

from .validation import check_int

__all__ = ["MAX_SEED", "check_seed", "generator"]

# torch.Generator.manual_seed takes any 64-bit value, but torch's own samplers reinterpret
# seeds >= 2^63 as negative in places; ddlib keeps seeds in [0, 2^63).
MAX_SEED = 2 ** 63 - 1


def check_seed(name: str, value: Any) -> int:
    """Return ``value`` as an int seed in [0, 2^63), or raise naming ``name``."""
    return check_int(name, value, min_value=0, max_value=MAX_SEED)


def generator(seed: Any, *, name: str = "seed") -> torch.Generator:
    """A CPU generator seeded with ``seed`` (checked): the same seed gives the same stream."""
    gen = torch.Generator()
    gen.manual_seed(check_seed(name, seed))
    return gen
