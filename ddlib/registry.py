"""One small registry type for everything a user can extend by name: links (``ddlib.tasks``) and
sweep experiments (``ddlib.sweep``) -- each a ``Registry``, not a hand-rolled dict.

A registry maps names to items.  ddlib's own entries are *built in*: they can be neither replaced
nor removed, so every recorded number stays reproducible; a user's entries can be replaced (with
``replace=True``) and removed.  A name that is not registered is a one-line error listing the
names that are.
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .validation import short_repr

__all__ = ["Registry", "UnknownName"]

T = TypeVar("T")


class UnknownName(ValueError):
    """A name that is not registered (the message lists the registered ones)."""


class Registry(Generic[T]):
    """Names -> items of one kind (``what`` names the kind in messages, e.g. "link").

    Built-in entries come first in iteration order, then the user's in registration order.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._builtin: set[str] = set()

    def register(self, name: str, item: T, *, replace: bool = False, builtin: bool = False) -> T:
        """Add ``item`` under ``name``; a taken name is refused unless ``replace`` (never a built-in)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.what} name must be a non-empty string, got {short_repr(name)}")
        if name in self._items and (not replace or name in self._builtin):
            why = f"a built-in {self.what} cannot be replaced" if name in self._builtin else "pass replace=True"
            raise ValueError(f"a {self.what} named {name!r} is already registered ({why})")
        self._items[name] = item
        if builtin:
            self._builtin.add(name)
        return item

    def unregister(self, name: str) -> None:
        """Remove a user's entry (a built-in one stays: ValueError)."""
        self.lookup(name)
        if name in self._builtin:
            raise ValueError(f"the built-in {self.what} {name!r} cannot be unregistered")
        del self._items[name]

    def lookup(self, name: object) -> T:
        """The item registered as ``name``, or a one-line ``UnknownName`` listing the names."""
        if not isinstance(name, str) or name not in self._items:
            raise UnknownName(f"{self.what} must be one of {self.names()}, got {short_repr(name)}")
        return self._items[name]

    def names(self) -> list[str]:
        """Every registered name, built-in ones first."""
        return [n for n in self._items if n in self._builtin] + [n for n in self._items if n not in self._builtin]

    def builtin(self, name: str) -> bool:
        return name in self._builtin

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.names()})"
