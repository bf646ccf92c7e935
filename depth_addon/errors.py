# SPDX-License-Identifier: GPL-3.0-or-later
"""Exception types shared by the core, the operators and the command line.

Each error carries the process exit code the CLI uses for it, so every entry point maps failures
the same way: ``2`` bad input, ``3`` model unavailable, ``130`` cancelled, ``1`` anything else.
"""


class DepthAddonError(Exception):
    """Base class of every error this project raises on purpose."""

    exit_code = 1


class BadInput(DepthAddonError):
    """The user's input (scene, file, parameter) cannot be used; the message says why."""

    exit_code = 2


class ModelUnavailable(DepthAddonError):
    """A generator or its weights/dependencies are missing or refused."""

    exit_code = 3


class Cancelled(DepthAddonError):
    """The user cancelled a running job."""

    exit_code = 130


def listed(names, limit: int = 5) -> str:
    """Names for a message: ``'A', 'B' and 3 more`` (the first ``limit``, quoted, then how many more).

    :param names: The names, in the order they are to be shown.
    :param limit: Most names shown.
    """
    names = list(names)
    more = len(names) - limit
    return ", ".join(map(repr, names[:limit])) + (f" and {more} more" if more > 0 else "")
