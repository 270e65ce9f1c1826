"""SIGTERM as a stop request that cannot be lost.

The ``kchip`` command turns SIGTERM into :class:`Terminated`, raised in the main thread, so Luigi and
the stages stop as on Ctrl-C. An exception raised by a signal handler can be lost, though: it is
raised wherever the main thread happens to be, and the code there may catch everything (Luigi's
scheduler records task history under ``except BaseException``) or may not be able to raise at all
(a ``__del__`` method or a weakref callback, such as ``subprocess.Popen.__del__`` after every tool run:
Python only prints their exceptions). So the handler also records the request here; a stage does
not start, and is not marked done, once a stop was requested, the flow raises :class:`Terminated`
after Luigi returns, and the command exits 143 whenever a stop was requested.
"""

from __future__ import annotations

import multiprocessing


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (a KeyboardInterrupt, so Luigi and the stages stop the same way)."""


_requested = False


def request_stop() -> None:
    """Record that the process must stop (called by the SIGTERM handler, before it raises)."""
    global _requested
    _requested = True


def clear_stop() -> None:
    """Forget an earlier request (a new command run in the same process)."""
    global _requested
    _requested = False


def stop_requested() -> bool:
    """Whether a stop was requested in this process (or before it was forked from its parent)."""
    return _requested


def check_stop() -> None:
    """Raise :class:`Terminated` if a stop was requested, even if the first one was swallowed; in a
    Luigi worker process, exit it with code 130 instead, as an interrupted stage does."""
    if _requested:
        if multiprocessing.parent_process() is not None:
            raise SystemExit(130)
        raise Terminated()
