"""The job glue: a blocking job streamed to the page in batches, errors as one line, Cancel reaching running
and queued jobs, and the stylise job's ``stop`` hook."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from styleverse.app.jobs import Finished, Ticket, Tickets, error_line, follow
from styleverse.cancel import Stopped
from styleverse.errors import InputError
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import StepEvent, TransferConfig
from styleverse.transfer.job import StylizeJob, run_stylize


def _drain(gen: Any) -> tuple[list[Any], Finished]:
    events: list[Any] = []
    for item in gen:
        if isinstance(item, Finished):
            return events, item
        events.extend(item)
    raise AssertionError("no Finished")


def test_follow_streams_events_then_the_result() -> None:
    def work(emit: Any) -> str:
        for i in range(5):
            emit(i)
        return "done"

    events, done = _drain(follow(work, Ticket()))
    assert events == [0, 1, 2, 3, 4] and done == Finished(result="done")


def test_follow_turns_errors_into_one_line() -> None:
    def user_error(emit: Any) -> None:
        raise InputError("photo.png: not an image; upload a PNG")

    def bug(emit: Any) -> None:
        raise ZeroDivisionError("division by zero\nsecond line")

    assert _drain(follow(user_error, Ticket()))[1].error == "photo.png: not an image; upload a PNG"
    msg = _drain(follow(bug, Ticket()))[1].error
    assert msg is not None and msg.startswith("unexpected error (ZeroDivisionError: division by zero)")
    assert "\n" not in msg
    assert error_line(InputError("a\nb")) == "a"


def test_cancel_sets_the_stop_flag_a_running_job_asks() -> None:
    ticket = Ticket()
    reached: list[int] = []

    def work(emit: Any) -> str:
        for i in range(1000):
            if ticket.stop():  # as every library job asks its stop() between steps
                raise Stopped(f"stopped after {i}")
            emit(i)
            reached.append(i)
            time.sleep(0.005)
        return "finished"

    gen = follow(work, ticket)
    next(gen)
    ticket.cancel()
    done = _drain(gen)[1]
    assert done.cancelled and len(reached) < 1000
    assert ticket.stop.reason == "stopped"  # a front end's stop: a stylise writes what it reached


def test_a_job_cancelled_while_queued_never_starts() -> None:
    ran = []
    ticket = Ticket()
    ticket.cancel()
    done = _drain(follow(lambda emit: ran.append(1), ticket))[1]
    assert done.cancelled and ran == []


def test_closing_the_stream_stops_the_job() -> None:
    """The page went away: Gradio closes the generator, the job's ticket is cancelled."""
    ticket = Ticket()

    def work(emit: Any) -> None:
        while True:
            emit("tick")
            time.sleep(0.01)

    gen = follow(work, ticket)
    next(gen)
    gen.close()
    assert ticket.stopped()


def test_tickets_reach_every_job_of_a_session_and_tab_only() -> None:
    t = Tickets()
    a1, a2 = t.arm("s1", "stylise"), t.arm("s1", "stylise")
    other_tab, other_session = t.arm("s1", "video"), t.arm("s2", "stylise")
    assert t.claim("s1", "stylise") is a1 and t.claim("s1", "stylise") is a2
    assert t.claim("s1", "stylise") not in (a1, a2)  # an API call that skipped arm() still gets a ticket
    assert t.cancel("s1", "stylise") == 3
    assert a1.stopped() and a2.stopped() and not other_tab.stopped() and not other_session.stopped()
    for tk in (a1, a2):
        t.release("s1", "stylise", tk)
    assert t.cancel("nobody", "stylise") == 0


def test_run_stylize_stop_ends_cleanly_and_keeps_the_image(images: dict[str, Path], tmp_path: Path) -> None:
    """The stop hook added for the app's Cancel: the image reached so far is written with its sidecar."""
    steps: list[int] = []

    def cb(ev: object) -> None:
        if isinstance(ev, StepEvent):
            steps.append(ev.step)

    job = StylizeJob(images["content"], tmp_path / "o.png", StyleSpec((images["style_a"],)),
                     TransferConfig(size=32, steps=20, precision="fp32"), FeatureSpec("random"))  # fmt: skip
    out = run_stylize(job, cb, stop=lambda: len(steps) >= 3)
    assert out.result.stop_reason == "stopped" and len(out.result.history) == 3
    assert out.sidecar["stop_reason"] == "stopped" and (tmp_path / "o.png").is_file()
    assert not out.interrupted and not (tmp_path / "o.png.resume.safetensors").exists()
