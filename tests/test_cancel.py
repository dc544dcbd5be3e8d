"""The one stop signal: a thread-safe flag that remembers why it was set, and Ctrl-C, SIGTERM and SIGHUP
setting it instead of killing the process (a second Ctrl-C still aborts at once)."""

from __future__ import annotations

import signal
import threading

import pytest

from styleverse.cancel import STOP_SIGNALS, StopFlag, never, reason, stop_on_signals


def test_the_first_reason_wins_and_any_thread_may_set_the_flag() -> None:
    flag = StopFlag()
    assert not flag() and flag.reason is None and not never()
    worker = threading.Thread(target=flag.set)  # a front end's stop, from another thread
    worker.start()
    worker.join()
    flag.set("interrupted")
    assert flag() and flag.reason == "stopped" and reason(flag) == "stopped"
    assert reason(lambda: True) == "stopped"  # any other callable is a front end's stop


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_each_signal_sets_the_flag_once_and_the_handlers_come_back(sig: int) -> None:
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    told: list[str] = []
    with stop_on_signals(StopFlag(), told.append) as flag:
        signal.raise_signal(sig)
        assert flag() and flag.reason == "interrupted"
        if sig != signal.SIGINT:
            signal.raise_signal(sig)  # a repeated SIGTERM/SIGHUP changes nothing
    assert told == [signal.Signals(sig).name]
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


def test_a_second_ctrl_c_aborts_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), stop_on_signals(StopFlag()) as flag:
        signal.raise_signal(signal.SIGINT)
        assert flag()
        signal.raise_signal(signal.SIGINT)
        pytest.fail("the second Ctrl-C did not interrupt")


def test_a_notice_that_fails_does_not_break_the_job() -> None:
    def closed_terminal(name: str) -> None:
        raise OSError("terminal hung up")

    with stop_on_signals(StopFlag(), closed_terminal) as flag:
        signal.raise_signal(signal.SIGTERM)
    assert flag.reason == "interrupted"


def test_outside_the_main_thread_the_handlers_stay() -> None:
    seen: list[object] = []

    def work() -> None:
        with stop_on_signals(StopFlag()) as flag:
            seen.append(signal.getsignal(signal.SIGTERM))
            seen.append(flag())

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen == [before, False]
