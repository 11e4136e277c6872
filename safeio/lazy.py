"""Public names of a package loaded on first use, so importing the package stays cheap."""

from __future__ import annotations

import importlib
from typing import Any, Callable, MutableMapping


def lazy_exports(
    package: str,
    exports: dict[str, str],
    *,
    namespace: MutableMapping[str, Any] | None = None,
    submodules: bool = False,
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `exports[name]` (a module path) the first
    time `name` is asked for; an unknown name is the usual AttributeError.

    `namespace` (the package's `globals()`): keep each loaded name there, so later lookups are plain
    attribute reads. `submodules`: `package.<name>` also finds a submodule not imported yet (so
    `import bandit; bandit.vwformat` works as after `import bandit.vwformat`)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            if namespace is not None:
                namespace[name] = value
            return value
        if submodules and not name.startswith("_"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
