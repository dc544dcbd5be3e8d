"""Issue 21's page problems that need no browser: lists read when asked, banks built here offered everywhere,
no server path in what the page gets, the Real time tab's status lines, threads per job, the outlier flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixtures.app import make_ctx, upload
from fixtures.images import make_image, noise_image
from fixtures.networks import adain_model, fast_model
from styleverse.app import config, realtime, universes
from styleverse.app.config import AppConfig, Limits
from styleverse.app.controls import refresh_pickers
from styleverse.app.files import no_paths, public_json
from styleverse.app.jobs import Ticket, configure_threads, follow
from styleverse.errors import InputError


def test_model_list_is_read_when_asked_and_leaves_out_resume_states(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    fast_model(tmp_path / "models" / "a.safetensors")
    (tmp_path / "models" / "a.safetensors.resume.safetensors").write_bytes(b"state")
    ctx.offer(object(), ctx.model_names)
    assert ctx.model_names() == ["a.safetensors"]
    fast_model(tmp_path / "models" / "b.safetensors")  # trained after the page was made
    [update] = refresh_pickers(ctx)
    assert update["choices"] == ["a.safetensors", "b.safetensors"]


def test_jobs_by_default_never_oversubscribe_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    for cpus in (1, 2, 3, 8, 64):
        monkeypatch.setattr(config, "cpu_count", lambda c=cpus: c)
        cfg = AppConfig()
        assert cfg.concurrency >= 1 and cfg.concurrency * cfg.threads_per_job() <= cpus
    monkeypatch.setattr(config, "cpu_count", lambda: 2)
    assert (AppConfig().concurrency, AppConfig().threads_per_job()) == (1, 2)  # one job with both CPUs


def test_a_job_runs_with_the_threads_configured_for_it() -> None:
    before = torch.get_num_threads()
    try:
        configure_threads(1)
        *_, done = follow(lambda emit: torch.get_num_threads(), Ticket(), poll=0.01)
        assert done.result == 1
    finally:
        configure_threads(before)


def test_no_server_path_in_messages_or_downloaded_settings(tmp_path: Path) -> None:
    text = f"{tmp_path}/out/.uploads/ab/clip.mp4: not a video; rebuild it with -o /srv/banks/x.safetensors"
    line = no_paths(text)
    assert line == "clip.mp4: not a video; rebuild it with -o x.safetensors"
    assert no_paths("1/2 of http://example.org/a") == "1/2 of http://example.org/a"
    job = tmp_path / "job"
    (job / "styles").mkdir(parents=True)
    side = job / "r.png.json"
    styles = [{"path": str(job / "styles/s.png")}]
    note = f"read {tmp_path}/x.png"
    side.write_text(json.dumps({"content": str(job / "p.png"), "styles": styles, "backbone": "/home/me/vgg.pth",
                                "note": note, "steps": 4}))  # fmt: skip
    public = json.loads(public_json(side, job).read_text())
    assert public == {"content": "p.png", "styles": [{"path": "styles/s.png"}], "backbone": "vgg.pth",
                      "note": "read x.png", "steps": 4}  # fmt: skip


def test_realtime_status_says_which_model_and_what_it_still_needs() -> None:
    none = realtime.Request(None, None, None)
    assert realtime.describe(none, []) == "Pick a model from the list or upload one."
    listed = realtime.Request("comic.safetensors", None, None)
    assert realtime.describe(listed, ["gwen", "miles"]) == (
        "Using the model comic.safetensors: mix its 2 universes with the sliders. Upload a photo."
    )
    up = realtime.Request(None, "/x/.uploads/ab/mine.safetensors", "p.png")
    assert realtime.describe(up, [], adain=True) == (
        "Using the uploaded model mine.safetensors: pick AdaIN universes or upload style images."
    )
    assert realtime.waiting(listed) == "Upload a photo: the result appears at once."


def test_a_bank_made_in_universes_is_a_universe_for_every_tab_adain_included(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Limits(max_upload_mb=0.01))  # smaller than any bank: universes are not uploads
    adain_model(tmp_path / "models" / "dec.safetensors", encoder_width=1.0)  # the app's random VGG
    paths = tuple(upload(ctx, noise_image(tmp_path / f"s{i}.png", i)) for i in range(4))
    analysed = list(universes.analyse(ctx, universes.Request(paths, size=32, name="set"), Ticket()))[-1]
    built = list(universes.make_bank(ctx, universes.Request(paths, size=32, name="all"), Ticket()))[-1]
    assert analysed.bank and built.bank, (analysed.status, built.status)
    names = ctx.bank_names()
    assert len(names) == 2 and all(n.startswith("made here/") for n in names), names
    assert {ctx.bank_path(n) for n in names} == {Path(analysed.bank), Path(built.bank)}
    rt = realtime.Realtime(ctx)
    photo = upload(ctx, make_image(tmp_path / "p.png", (40, 32)))
    for name in names:
        image, line = rt.render(realtime.Request("dec.safetensors", None, photo, (name,), size=32))
        assert image.size == (32, 26), line
    with pytest.raises(InputError, match=r"climbs out|outside"):
        ctx.bank_path("made here/../../secret.style.safetensors")


def test_outlier_strictness_changes_what_the_page_flags(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    paths = tuple(upload(ctx, noise_image(tmp_path / f"s{i}.png", i)) for i in range(7))
    paths += (upload(ctx, make_image(tmp_path / "photo.png", (40, 32), 99)),)
    flagged = {}
    for k in (1.0, 6.0):
        last = list(universes.analyse(ctx, universes.Request(paths, size=32, mad_k=k), Ticket()))[-1]
        assert last.table is not None, last.status
        flagged[k] = [r[3] for r in last.table]
        assert f"strictness {k}" in (last.status or "")
    assert flagged[1.0] != flagged[6.0], flagged
    assert any("far from the average" in f for f in flagged[1.0])


def test_progress_lines_carry_an_estimate_of_the_time_left() -> None:
    from styleverse.app.views import eta_text

    assert eta_text(None) == "" and eta_text(float("nan")) == ""
    assert eta_text(7.4) == " · about 7 s left" and eta_text(125) == " · about 2 min 5 s left"
