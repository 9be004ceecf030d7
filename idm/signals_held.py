"""Holding back Ctrl-C (SIGINT) and SIGTERM around a step that must not be cut in half."""

import contextlib
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held(signums=STOP_SIGNALS):
    """Run the block with these signals held back: one that arrives meanwhile is delivered when the
    block ends, to the handler that was in place before it. Handlers can only be set in the main
    thread; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    previous = {signum: signal.signal(signum, lambda got, _: arrived.append(got)) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)
