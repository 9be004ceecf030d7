"""Signals held back around a step: delivered after it, once, to the handler in place before it."""

import os
import signal
import threading

import pytest

from idm.signals_held import signals_held


def test_signals_arriving_in_the_block_are_delivered_after_it():
    got = []
    previous = {s: signal.signal(s, lambda signum, _: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM, signal.SIGINT]  # in order of arrival, each once
        os.kill(os.getpid(), signal.SIGINT)  # after the block, at once again
        assert got[-1] == signal.SIGINT and len(got) == 3
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_ctrl_c_in_the_block_interrupts_after_it_even_when_the_block_fails(ctrl_c_raises):
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                raise OSError("disk gone")
            finally:
                assert signal.getsignal(signal.SIGINT) is not handler  # still held here
    assert signal.getsignal(signal.SIGINT) is handler


def test_outside_the_main_thread_the_block_runs_as_it_is():
    errors = []

    def run():
        try:
            with signals_held():
                pass
        except Exception as exc:  # signal.signal outside the main thread raises ValueError
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []
