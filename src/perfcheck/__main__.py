# Signals first: the CLI's imports take a while, and a Ctrl-C during them must not print a traceback.
from perfcheck.signals import run


def main() -> None:
    def cli() -> None:
        from perfcheck.cli import main as cli_main  # why: signals are set before the CLI's slow imports

        cli_main()

    run(cli)


if __name__ == "__main__":
    main()
