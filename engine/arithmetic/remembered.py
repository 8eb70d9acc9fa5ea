"""One bounded memo for values worked out from objects that never change once made (a device,
a catalog, the demand defaults, a count): remembered by a key that holds their ids.

An id alone may be reused once its object is gone, so each entry keeps the objects it was made
from and a read checks them by identity; keeping them also means no id in a standing key is
reused. The lever search and the audit ask the same figures thousands of times; the limit bounds
what a long session holds (past it, everything is dropped and worked out again)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


NOT_FOUND: Any = object()
"""What :meth:`Remembered.find` returns for a value it does not hold (None may be a value)."""


class Remembered(Generic[_T]):
    """Values by key, each with the objects it was made from (see the module docstring)."""

    def __init__(self, limit: int = 65536) -> None:
        self._found: dict[Hashable, tuple[tuple[object, ...], _T]] = {}
        self._limit = limit

    def find(self, key: Hashable, owners: tuple[object, ...]) -> _T:
        """The value under ``key`` made from these ``owners``, else ``NOT_FOUND``. The owners
        compare as a tuple: the same objects at once, or equal ones, which give the same value."""
        found = self._found.get(key)
        return found[1] if found is not None and found[0] == owners else NOT_FOUND

    def keep(self, key: Hashable, owners: tuple[object, ...], value: _T) -> _T:
        """Remember ``value`` under ``key`` with its owners; returns it."""
        if len(self._found) >= self._limit:
            self._found.clear()
        self._found[key] = (owners, value)
        return value

    def clear(self) -> None:
        self._found.clear()
