# Signals first: the CLI's imports take a while, and a Ctrl-C during them must not print a traceback.
import sys

from perfcheck import __version__
from perfcheck.signals import run


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # start-up time: the answer needs neither typer nor the checks
        sys.stdout.write(f"perfcheck {__version__}\n")
        return

    def cli() -> None:
        from perfcheck.cli import main as cli_main  # why: signals are set before the CLI's slow imports

        cli_main()

    run(cli)


if __name__ == "__main__":
    main()
