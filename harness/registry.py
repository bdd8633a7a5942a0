"""Registries of methods and tasks, discovered without importing them.

A method or task is one module (or package) under `methods/` or `tasks/` whose class carries
`@register_method("name")` / `@register_task("name")`. Listing reads those decorators from the
source with `ast`, so `nfbench ls` never imports torch; `get()` imports only the module asked for.
"""
from __future__ import annotations

import ast
import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nfbench.harness.errors import UserError


@dataclass(frozen=True)
class Entry:
    name: str
    module: str  # dotted module path, imported on demand
    cls_name: str
    summary: str  # first line of the class docstring


class Registry:
    def __init__(self, kind: str, package: str, decorator: str):
        self.kind, self.package, self.decorator = kind, package, decorator
        self._loaded: dict[str, type] = {}
        self._entries: dict[str, Entry] | None = None

    # --- discovery -------------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        if self._entries is None:
            root = Path(importlib.import_module(self.package).__file__).parent
            found: dict[str, Entry] = {}
            for path in sorted(root.rglob("*.py")):
                rel = path.relative_to(root).with_suffix("")
                parts = [p for p in rel.parts if p != "__init__"]
                module = ".".join([self.package, *parts])
                for entry in self._scan(path, module):
                    found[entry.name] = entry
            self._entries = found
        return self._entries

    def _scan(self, path: Path, module: str) -> list[Entry]:
        text = path.read_text(encoding="utf-8")
        if self.decorator not in text:
            return []
        out = []
        for node in ast.parse(text).body:
            if not isinstance(node, ast.ClassDef):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == self.decorator
                        and dec.args and isinstance(dec.args[0], ast.Constant)):
                    doc = (ast.get_docstring(node) or "").strip().splitlines()
                    out.append(Entry(dec.args[0].value, module, node.name, doc[0] if doc else ""))
        return out

    def names(self) -> list[str]:
        return sorted(self.entries())

    # --- lookup ------------------------------------------------------------------------------
    def check(self, name: str) -> Entry:
        entries = self.entries()
        if name not in entries:
            close = difflib.get_close_matches(name, entries, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UserError(f"unknown {self.kind} '{name}'",
                            f"{hint}known {self.kind}s: {', '.join(self.names())}")
        return entries[name]

    def get(self, name: str) -> type:
        entry = self.check(name)
        if name not in self._loaded:
            importlib.import_module(entry.module)  # the decorator fills self._loaded
        return self._loaded[name]

    def register(self, name: str) -> Callable[[type], type]:
        def wrap(cls: type) -> type:
            cls.name = name
            self._loaded[name] = cls
            return cls
        return wrap


METHODS = Registry("method", "nfbench.methods", "register_method")
TASKS = Registry("task", "nfbench.tasks", "register_task")

register_method = METHODS.register
register_task = TASKS.register


def get_method(name: str) -> Any:
    return METHODS.get(name)


def get_task(name: str) -> Any:
    return TASKS.get(name)
