"""Name -> implementation tables for the pluggable stages (trackers, generators).

Entries are "module:Class" strings, imported only when a name is used, so listing the names (the
CLI's choices, the planner's checks) never loads an implementation's heavy dependencies.
"""

from __future__ import annotations

import importlib

from .errors import InputError


class Registry:
    def __init__(self, what: str, entries: dict[str, str]) -> None:
        self.what = what                  # how an unknown name is reported: "engine", "tracker backend"
        self.entries = dict(entries)

    def register(self, name: str, target: str) -> None:
        """Make `target` ("module:Class") available under `name`."""
        self.entries[name] = target

    def names(self) -> list[str]:
        return list(self.entries)

    def check(self, name: str) -> str:
        if name not in self.entries:
            raise InputError(f"unknown {self.what} {name!r}; choose one of auto, {', '.join(self.names())}")
        return name

    def get(self, name: str) -> type:
        module, cls = self.entries[self.check(name)].split(":")
        return getattr(importlib.import_module(module), cls)
