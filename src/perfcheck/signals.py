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


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds to the entry point, which exits with `code`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.code = 128 + signum


def _say(line: str) -> None:
    # os.write, not print: the handler may interrupt a print to stderr (a reentrant call fails).
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


def _backstop(code: int) -> None:
    time.sleep(BACKSTOP_S)
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os._exit(code)


def _handler(signum: int, frame: object) -> None:
    global _received
    if _received is not None:
        return  # a second Ctrl-C while unwinding: the backstop is already running
    _received = signum
    _say(f"perfcheck: stopped by {_MESSAGES.get(signum, signal.Signals(signum).name)}")
    threading.Thread(target=_backstop, args=(128 + signum,), daemon=True, name="perfcheck-backstop").start()
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
    """Install the handler and call `main()`; an interruption exits with its code, quietly
    (the line is already out)."""
    try:
        install()
        main()
    except Interrupted as exc:
        _exit(exc.code)


def _exit(code: int) -> None:
    # os._exit: normal interpreter shutdown would wait on threads still blocked in I/O.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)
