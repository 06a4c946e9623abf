"""Named implementations of an extension point (a loss, a scheduler, an ensemble method, a map
output, a data source): a new one is a registered function or object in a file of its own, and a
config names it. An unknown name is refused with the key and the names there are."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> implementation, for the config key `key` that chooses among them."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register `entry` under `name` (twice is a mistake, not an override)."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.key}: {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise ValueError(f"{self.key}={name!r}: choose one of {sorted(self._entries)}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)


def check_options(factory: Callable[..., Any], options: Mapping[str, Any], key: str, given: Sequence[str] = ()) -> None:
    """Refuse an option `factory` does not take by its config key (`model.loss.gamma: ...`), before
    any work, rather than by a TypeError deep inside; `given` are the arguments the caller passes."""
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [name for name in options if name not in parameters and not takes_any]
    if unknown:
        accepted = [name for name in parameters if name not in given]
        raise ValueError(f"{key}.{unknown[0]}: not an option of this choice (it takes {accepted or 'none'})")


def call_with_options(factory: Callable[..., Any], options: Mapping[str, Any], key: str, **given: Any) -> Any:
    """`factory(**given, **options)`, its options checked first (`check_options`)."""
    check_options(factory, options, key, list(given))
    return factory(**given, **options)
