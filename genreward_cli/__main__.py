"""The `genreward` command's entry point (also ``python -m genreward_cli``).

Loading the command takes seconds (torch, diffusers): a Ctrl-C in that time printed Python's
KeyboardInterrupt traceback from an import, or, when the KeyboardInterrupt was raised inside
a C++ extension's initialisation (pybind11), ``terminate called after throwing an instance of
'pybind11::error_already_set'`` and an abort. While the command loads, Ctrl-C therefore
raises nothing: its handler prints ``Aborted!`` and ends the process by SIGINT at once, as
:func:`genreward_cli.cli.main` does during a command. Nothing is written before then.
"""

import os
import signal
import sys


def _abort_while_loading(signum, frame) -> None:
    """SIGINT while the command loads: ``Aborted!`` and an end by SIGINT, raising nothing
    (an exception raised into an extension's initialisation aborts the process)."""
    sys.stderr.write("Aborted!\n")
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def main() -> None:
    """Load the command and run it (:func:`genreward_cli.cli.main`)."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not when ignored (a background job)
        signal.signal(signal.SIGINT, _abort_while_loading)
    try:
        from genreward_cli.cli import main as run
    except KeyboardInterrupt:  # raised before the handler above was set
        _abort_while_loading(signal.SIGINT, None)
        raise  # not reached
    signal.signal(signal.SIGINT, previous)
    run()


if __name__ == "__main__":
    main()
