"""How the terminal views print: the width and colours of the real output, decided the way
Rich decides by itself (COLUMNS, the terminal's size, NO_COLOR, FORCE_COLOR, TERM=dumb),
unless `--color always|never` says otherwise."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

COLOR_MODES = ("auto", "always", "never")
DETAILS = ("quiet", "normal", "verbose")


@dataclass(frozen=True)
class Display:
    """What a terminal view is rendered for. `color_system` None: plain text, no escapes;
    `no_color`: styles (bold, dim) but no colours (NO_COLOR)."""

    width: int = 100
    color_system: str | None = None
    no_color: bool = False
    detail: str = "normal"

    @classmethod
    def plain(cls, width: int = 100, color: bool = False, detail: str = "normal") -> Display:
        """A fixed width, colour on or off: for files, tests and snapshots."""
        return cls(width, "standard" if color else None, not color, detail)

    def console(self, file: IO[str]) -> Console:
        return Console(file=file, width=self.width, color_system=self.color_system,  # type: ignore[arg-type]
                       force_terminal=self.color_system is not None, no_color=self.no_color,
                       highlight=False, emoji=False, legacy_windows=False)

    def finish(self, text: str) -> str:
        """Plain text loses the spaces that pad a wrapped block to the width."""
        if self.color_system is not None:
            return text
        return "\n".join(line.rstrip(" ") for line in text.split("\n"))


def hanging(lead: Text | str, body: Text | str, indent: int | None = None) -> Table:
    """`lead` then `body`, the body's wrapped lines aligned under its first word (a
    hanging indent); a word is split only when it is longer than the whole line."""
    lead = Text(lead) if isinstance(lead, str) else lead
    grid = Table.grid()
    grid.add_column(no_wrap=True, width=indent or lead.cell_len)
    grid.add_column(overflow="fold")
    grid.add_row(lead, body)
    return grid


def detect(color: str = "auto", stream: IO[str] | None = None, detail: str = "normal") -> Display:
    """The display of `stream` (stdout): its width, and colours as asked. auto: Rich's own
    reading of the terminal and the environment; always / never: the flag wins."""
    stream = stream or sys.stdout
    probe = Console(file=stream, force_terminal=True if color == "always" else None, highlight=False)
    width = probe.width
    if color == "never":
        return Display(width, None, True, detail)
    if color == "always":
        return Display(width, probe.color_system or "standard", False, detail)
    return Display(width, probe.color_system, probe.no_color, detail)
