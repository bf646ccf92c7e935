# SPDX-License-Identifier: GPL-3.0-or-later
"""App handlers and exit hooks that stay single however often the add-on is reloaded.

A function Blender or ``atexit`` holds is a plain object: reloading its module (``importlib.reload``, or a fresh
import after the module was dropped from ``sys.modules``) makes a new one, and a test by identity
(``fn in handlers``) no longer finds the one added before. The earlier copy then runs as well (twice per file
load, twice at exit) and stays after the add-on is unregistered. Here a handler is recognised by its module and
qualified name, so the copy of an earlier import is replaced or removed with it; exit hooks are kept in one
process-wide table (on the ``atexit`` module, which no reload touches) under the same key. Timers cannot be listed
at all: only the object registered can be found or taken off again, so their callbacks are made once per process
and kept in another such table (:func:`kept_callback`).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable

#: Attribute of the ``atexit`` module holding ``{module.qualname: the function registered}``.
_EXIT_TABLE = "_depth_addon_exit_hooks"
#: Attribute of the ``atexit`` module holding ``{module.name: the callback made for it}`` (:func:`kept_callback`).
_CALLBACK_TABLE = "_depth_addon_callbacks"


def key(fn: Callable) -> str:
    """``module.qualname`` of a function: the same for its copies from every import of its module.

    :param fn: A function (decorated ones keep the name through ``functools.wraps``).
    """
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"


def copies(handlers: list, fn: Callable) -> list:
    """The entries of ``handlers`` that are ``fn`` or a copy of it from another import of its module.

    :param handlers: A list of ``bpy.app.handlers``.
    :param fn: Our handler.
    """
    return [h for h in handlers if h is fn or key(h) == key(fn)]


def add_handler(handlers: list, fn: Callable) -> None:
    """Make ``fn`` the one entry of ``handlers`` of its name (idempotent; an earlier import's copy is replaced).

    :param handlers: A list of ``bpy.app.handlers``.
    :param fn: Our handler.
    """
    found = copies(handlers, fn)
    if found == [fn]:
        return
    for h in found:
        handlers.remove(h)
    handlers.append(fn)


def remove_handler(handlers: list, fn: Callable) -> None:
    """Remove ``fn`` and every copy of it from ``handlers`` (nothing when absent).

    :param handlers: A list of ``bpy.app.handlers``.
    :param fn: Our handler.
    """
    for h in copies(handlers, fn):
        handlers.remove(h)


def at_exit(fn: Callable) -> None:
    """Run ``fn`` at interpreter exit, in place of what an earlier import of its module registered.

    :param fn: The exit hook.
    """
    table = atexit.__dict__.setdefault(_EXIT_TABLE, {})
    previous = table.get(key(fn))
    if previous is not None:
        atexit.unregister(previous)
    table[key(fn)] = fn
    atexit.register(fn)


def kept_callback(module: str, name: str, make: Callable[[], Callable]) -> Callable:
    """The callback for ``module.name`` that the first import of ``module`` in this process made with ``make`` (made
    now if none did): what Blender holds, such as a timer, stays the one object every later import (a reload, or a
    fresh import after the module was dropped from ``sys.modules``) tests with ``is_registered`` and unregisters.

    :param module: ``__name__`` of the caller.
    :param name: What the callback is for, unique in that module.
    :param make: Makes the callback (it must not hold the module's globals: the table keeps it until exit).
    """
    table = atexit.__dict__.setdefault(_CALLBACK_TABLE, {})
    if f"{module}.{name}" not in table:
        table[f"{module}.{name}"] = make()
    return table[f"{module}.{name}"]
