"""Defer a heavy package that the bot imports only indirectly and never uses.

eventkit (ib_insync's event library; aeventkit, ib_async's, installs under the same name and
does the same) imports numpy when it is imported, for an ``Array``
operator the bot never uses. numpy adds about 12 MiB of RSS, which is a fifth of the bot's
60 MiB budget on a Pi.

``defer("numpy")`` registers a stand-in module under that name:
- Importing the stand-in costs nothing.
- The first read of one of its attributes imports the real package and forwards to it, so code
  that does use numpy still works.

The import system reads ``__spec__`` and ``__path__`` from modules in ``sys.modules``. A module
object has ``__spec__`` itself, so reading it does not load the package. ``__path__`` does load
it, which is right: that read happens only when a submodule is imported, which means real use.
(The standard library's ``importlib.util.LazyLoader`` loads the package on that ``__spec__``
read, that is on the next ``import numpy`` anywhere, so it would not help here.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in for a package that has not been imported yet."""

    def __getattr__(self, attr: str) -> Any:  # only called for attributes it lacks
        real = load(self.__name__)
        self.__dict__.update(real.__dict__)  # modules that bound the stand-in read it directly now
        return getattr(real, attr)


def defer(name: str) -> bool:
    """Put a stand-in for top-level package ``name`` in ``sys.modules``.

    Returns False, and changes nothing, when ``name`` is already imported or is not installed.
    """
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return False
    sys.modules[name] = _Deferred(name)
    return True


def load(name: str) -> types.ModuleType:
    """The real package ``name``. Imports it if only its stand-in is registered."""
    if isinstance(sys.modules.get(name), _Deferred):
        sys.modules.pop(name, None)
    return importlib.import_module(name)


def is_deferred(name: str) -> bool:
    """True while ``name`` is registered but its real package has not been imported."""
    return isinstance(sys.modules.get(name), _Deferred)
