"""The `genreward` command's entry point (also ``python -m genreward_cli``).

Loading the command takes seconds (torch, diffusers): a Ctrl-C in that time would print
Python's KeyboardInterrupt traceback from an import, before :func:`genreward_cli.cli.main`
handles Ctrl-C. Here it is ``Aborted!`` and an end by SIGINT, as during a command.
"""

import os
import signal
import sys


def main() -> None:
    """Load the command and run it (:func:`genreward_cli.cli.main`)."""
    try:
        from genreward_cli.cli import main as run
    except KeyboardInterrupt:  # nothing written yet: end by SIGINT at once
        sys.stderr.write("Aborted!\n")
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        raise  # not reached
    run()


if __name__ == "__main__":
    main()
