"""Ctrl-C and SIGTERM stop perfcheck promptly: one line on stderr, no traceback, exit
130 (SIGINT) or 143 (SIGTERM), from any point, the imports included.

Installed first thing by the entry points, before the CLI's heavy imports, so a Ctrl-C
in the first half second is handled too. The handler raises `Interrupted` to unwind
the main thread (click turns a KeyboardInterrupt into "Aborted!" exit 1, so it is a
BaseException of our own), and arms a backstop that ends the process shortly after
whatever the main thread is doing: collector threads blocked in a socket read must
not keep it alive.

`demo` and `apply-indexes` clean up after themselves on Ctrl-C (servers to stop, an
index build to cancel) and handle their signals on their own: they are left alone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

STARTED = time.monotonic()  # about when the process started: the audit's --max-seconds counts from here
BACKSTOP_S = 1.5  # the main thread gets this long to unwind before the process ends regardless
_OWN_HANDLING = ("demo", "apply-indexes")
_MESSAGES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}

_received: int | None = None
_said = threading.Lock()  # the line is printed once, by whichever of the main thread and the backstop is first


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds to the entry point, which exits with `code`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.code = 128 + signum


def _say(signum: int) -> None:
    """The one line. Said once the main thread has unwound (a progress display on the
    terminal has cleared itself by then), or by the backstop if it never does."""
    if not _said.acquire(blocking=False):
        return
    line = f"perfcheck: stopped by {_MESSAGES.get(signum, signal.Signals(signum).name)}\n"
    try:
        os.write(2, line.encode())  # not print(): sys.stderr may be mid-write in the interrupted code
    except OSError:
        pass


def _backstop(signum: int) -> None:
    time.sleep(BACKSTOP_S)
    _say(signum)
    os._exit(128 + signum)  # no flush: the main thread may hold stdout's lock, blocked on a full pipe


def _handler(signum: int, frame: object) -> None:
    global _received
    if _received is not None:
        return  # a second Ctrl-C while unwinding: the backstop is already running
    _received = signum
    threading.Thread(target=_backstop, args=(signum,), daemon=True, name="perfcheck-backstop").start()
    raise Interrupted(signum)


def install(argv: list[str] | None = None) -> None:
    """Route SIGINT and SIGTERM to the handler (not for the commands that handle them)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in _OWN_HANDLING:
        return
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal only works there (perfcheck called as a library)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


def run(main) -> None:
    """Install the handler and call `main()`; an interruption exits with its code and one line."""
    try:
        install()
        main()
    except Interrupted as exc:
        _say(exc.code - 128)
        _exit(exc.code)
    except KeyboardInterrupt:
        # demo or apply-indexes, Ctrl-C'd during the imports, before their own handling began
        # (once it has, click reports an escaped KeyboardInterrupt itself).
        _say(signal.SIGINT)
        _exit(128 + signal.SIGINT)


def _exit(code: int) -> None:
    # os._exit: normal interpreter shutdown would wait on threads still blocked in I/O.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)
