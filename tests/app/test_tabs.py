"""Each tab's job glue without a browser: what the page would show for a tiny job, a refused upload, limits,
and Cancel. The browser test drives the same code through Gradio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fixtures.app import make_ctx, timed_lines, upload
from fixtures.clips import gradient_clip
from fixtures.images import make_image
from fixtures.networks import adain_model, fast_model
from styleverse.app import realtime, stylise, universes, video
from styleverse.app.config import Limits
from styleverse.app.jobs import Ticket
from styleverse.app.sources import StyleChoice, row_label, weight_rows
from styleverse.errors import ConfigError, InputError
from styleverse.video.config import VideoConfig

PASSES = VideoConfig().passes  # the app's video runs the library's passes; its progress counts frame passes


def _tiny_stylise(ctx: Any, tmp_path: Path, **kw: Any) -> stylise.Request:
    photo = upload(ctx, make_image(tmp_path / "photo.png", (48, 36), 1))
    style = upload(ctx, make_image(tmp_path / "style.png", (40, 40), 2))
    return stylise.Request(photo, StyleChoice(image_uploads=(style,)), **{"size": 32, "steps": 4, **kw})


def test_stylise_streams_progress_snapshots_and_ends_with_the_png_and_sidecar(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    views = list(stylise.run(ctx, _tiny_stylise(ctx, tmp_path), Ticket()))
    assert views[0].hide_downloads
    bars = [v.progress for v in views if v.progress and "step " in v.progress and "done" not in v.progress]
    assert len({b for b in bars}) >= 2, "the progress bar never moved"
    assert any("left" in b for b in bars), "no estimate of the time left"
    assert any(v.image is not None for v in views[:-1]), "no intermediate image"
    last = views[-1]
    assert last.downloads is not None and "Done: 4 steps" in (last.status or "")
    png, side = map(Path, last.downloads)
    assert Image.open(png).size == (32, 24) and png.parent.parent == ctx.workspace.root
    assert png.name == "photo-stylised.png"  # named after the photo, not stylized.png every time
    sidecar = json.loads((png.parent / (png.name + ".json")).read_text())
    assert Path(sidecar["content"]).parent == png.parent  # the job reads its own copy of the photo
    assert sidecar["styles"][0]["path"].startswith(str(png.parent / "styles"))
    public = json.loads(side.read_text())  # the download: the same settings, no server path in it
    assert public["content"] == "photo.png" and public["styles"][0]["path"] == "styles/style.png"
    assert str(ctx.workspace.root) not in side.read_text() and "/tmp" not in side.read_text()


def test_stylise_refuses_a_non_image_photo_in_one_line_and_makes_no_folder(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    fake = tmp_path / "holiday.jpg"
    fake.write_text("<html>not a photo</html>")
    req = stylise.Request(upload(ctx, fake), StyleChoice(image_uploads=(upload(ctx, make_image(tmp_path / "s.png")),)))
    views = list(stylise.run(ctx, req, Ticket()))
    assert "holiday.jpg: not an image; upload a PNG" in (views[-1].status or "") and "sv-error" in views[-1].status
    assert [p.name for p in ctx.workspace.root.iterdir()] == [".uploads"]


def test_a_style_image_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    req = _tiny_stylise(ctx, tmp_path)
    (tmp_path / "gwen.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPnot really")
    bad = upload(ctx, tmp_path / "gwen.webp")
    views = list(stylise.run(ctx, stylise.Request(req.photo, StyleChoice(image_uploads=(bad,))), Ticket()))
    assert "gwen.webp: not an image" in (views[-1].status or "") and views[-1].downloads is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 5000}, "size must be between 16 and 1024"),
        ({"steps": 0}, "steps must be between 1 and"),
        ({"preserve_color": "sepia"}, "colour preservation must be one of"),
        ({"styles": StyleChoice()}, "choose a universe or upload a style image"),
        ({"photo": None}, "upload a photo first"),
    ],
)
def test_stylise_limits_are_checked_before_any_work(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    ctx = make_ctx(tmp_path)
    req = _tiny_stylise(ctx, tmp_path)
    req = stylise.Request(**{**req.__dict__, **change})
    with pytest.raises(ConfigError, match=message):
        stylise.prepare(ctx, req)


def test_too_many_style_images_and_a_universe_outside_the_banks_folder_are_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Limits(max_style_images=1))
    req = _tiny_stylise(ctx, tmp_path)
    two = StyleChoice(image_uploads=req.styles.image_uploads * 2)
    with pytest.raises(ConfigError, match="2 style images; this server takes 1"):
        stylise.prepare(ctx, stylise.Request(req.photo, two))
    with pytest.raises(InputError, match="climbs out"):
        stylise.prepare(ctx, stylise.Request(req.photo, StyleChoice(universes=("../out/x.safetensors",))))


def test_weights_follow_the_table_and_bad_weights_are_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    req = _tiny_stylise(ctx, tmp_path)
    style = req.styles.image_uploads[0]
    label = row_label("image", Path(style).name)
    assert weight_rows(StyleChoice(image_uploads=(style,), rows=((label, 3.0), ("gone", 2)))) == [[label, 3.0]]
    for bad, message in (("abc", "not a number"), (-1, ">= 0"), (0, "all zero")):
        choice = StyleChoice(image_uploads=(style,), rows=((label, bad),))
        with pytest.raises(ConfigError, match=message):
            stylise.prepare(ctx, stylise.Request(req.photo, choice))


def test_cancel_stops_stylise_and_keeps_what_it_reached(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ticket = Ticket()
    views = []
    for v in stylise.run(ctx, _tiny_stylise(ctx, tmp_path, steps=200), ticket):
        views.append(v)
        if v.progress and "step 2 /" in v.progress:
            ticket.cancel()
    last = views[-1]
    assert "Stopped at step" in (last.status or "") and last.downloads is not None
    assert json.loads(Path(last.downloads[1]).read_text())["stop_reason"] == "stopped"


def test_universes_analysis_and_bank(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    paths = tuple(upload(ctx, make_image(tmp_path / f"s{i}.png", (32, 32), i)) for i in range(4))
    req = universes.Request(paths, size=32, name="Gwen's world")
    views = list(universes.analyse(ctx, req, Ticket()))
    last = views[-1]
    assert last.pictures is not None and all(Path(p).is_file() for p in last.pictures), last.status
    assert last.table is not None and [r[0] for r in last.table] == [1, 2, 3, 4]
    assert last.report is not None and json.loads(Path(last.report).read_text())["count"] == 4
    assert str(tmp_path) not in Path(last.report).read_text()  # the download names no server path
    assert last.bank is not None and Path(last.bank).name == "subset-Gwen_s_world.style.safetensors"
    lines = timed_lines(v.progress for v in views)  # each line: elapsed; the time left at its stage's pace
    assert {m["label"].split(":")[0] for m in lines} >= {"seeing the images", "distances"}, lines
    assert any(m["left"] for m in lines if m["label"].startswith("seeing")), [m[0] for m in lines]
    views = list(universes.make_bank(ctx, req, Ticket()))
    lines = timed_lines(v.progress for v in views)
    assert lines and all(m["label"].startswith("seeing the images: ") for m in lines)
    assert any(m["left"] for m in lines), [m[0] for m in lines]
    built = views[-1]
    assert built.bank is not None and Path(built.bank).name == "Gwen_s_world.style.safetensors", built.status
    from styleverse.styles.bank import load_bank

    assert load_bank(built.bank).count == 4


def test_cancel_stops_a_bank_build_between_images(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    paths = tuple(upload(ctx, make_image(tmp_path / f"s{i}.png", (32, 32), i)) for i in range(4))
    ticket, views = Ticket(), []
    for v in universes.make_bank(ctx, universes.Request(paths, size=32, name="cut"), ticket):
        views.append(v)
        if v.progress and "1 / 4" in v.progress:
            ticket.cancel()
    assert "Cancelled." in (views[-1].status or "") and views[-1].bank is None
    assert ticket.stop.reason == "stopped"


def test_universes_refuse_an_empty_set(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    views = list(universes.analyse(ctx, universes.Request(()), Ticket()))
    assert "upload a set of style images first" in (views[-1].status or "")


def test_realtime_fast_model_mixes_its_universes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    fast_model(tmp_path / "models" / "comic.safetensors")
    rt = realtime.Realtime(ctx)
    photo = upload(ctx, make_image(tmp_path / "p.png", (40, 32)))
    req = realtime.Request("comic.safetensors", None, photo, weights=(1.0, 0.0), size=32)
    assert rt.names(req) == ["gwen", "miles"]
    a, line = rt.render(req)
    b, _ = rt.render(realtime.Request("comic.safetensors", None, photo, weights=(0.0, 1.0), size=32))
    assert a.size == (32, 26) and "comic.safetensors: 32x26 px" in line
    assert a.tobytes() != b.tobytes(), "the mix sliders change nothing"
    with pytest.raises(InputError, match="climbs out"):
        rt.render(realtime.Request("../models/comic.safetensors", None, photo))


def test_realtime_runs_an_exported_onnx_network_like_its_source(tmp_path: Path) -> None:
    from styleverse.fast.export import export_onnx
    from styleverse.fast.model import load_model

    ctx = make_ctx(tmp_path)
    source = load_model(fast_model(tmp_path / "models" / "comic.safetensors"))
    export_onnx(source, tmp_path / "models" / "comic.onnx")
    export_onnx(source, tmp_path / "models" / "miles.onnx", mix="miles")
    assert {"comic.safetensors", "comic.onnx", "miles.onnx"} <= set(ctx.model_names())
    rt = realtime.Realtime(ctx)
    photo = upload(ctx, make_image(tmp_path / "p.png", (40, 32)))
    for weights in ((1.0, 0.0), (0.3, 0.7)):
        torch_out, _ = rt.render(realtime.Request("comic.safetensors", None, photo, weights=weights, size=32))
        req = realtime.Request("comic.onnx", None, photo, weights=weights, size=32)
        assert rt.names(req) == ["gwen", "miles"]
        onnx_out, line = rt.render(req)
        assert "comic.onnx: 32x26 px" in line
        diff = np.abs(np.asarray(onnx_out, dtype=int) - np.asarray(torch_out, dtype=int))
        assert diff.max() <= 2, "onnxruntime and torch disagree"
    baked = realtime.Request("miles.onnx", None, photo, size=32)
    assert rt.names(baked) == []  # its mix is baked in: no sliders
    miles, _ = rt.render(realtime.Request("comic.safetensors", None, photo, weights=(0.0, 1.0), size=32))
    assert np.abs(np.asarray(rt.render(baked)[0], dtype=int) - np.asarray(miles, dtype=int)).max() <= 2
    junk = upload(ctx, make_image(tmp_path / "j.png"), "junk.onnx")
    with pytest.raises(InputError, match=r"junk\.onnx: not a readable ONNX model"):
        rt.render(realtime.Request(None, junk, photo, size=32))


def test_realtime_adain_takes_uploaded_styles_and_refuses_other_files(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    model = upload(ctx, adain_model(tmp_path / "dec.safetensors"))
    photo = upload(ctx, make_image(tmp_path / "p.png", (40, 32)))
    styles = (upload(ctx, make_image(tmp_path / "a.png", (32, 32), 5)), upload(ctx, make_image(tmp_path / "b.png")))
    rt = realtime.Realtime(ctx)
    req = realtime.Request(None, model, photo, style_uploads=styles, weights=(1.0, 0.0), size=32)
    assert rt.names(req) == ["a.png", "b.png"]
    image, _ = rt.render(req)
    assert image.size == (32, 26)
    with pytest.raises(ConfigError, match="needs a style"):
        rt.render(realtime.Request(None, model, photo, size=32))
    not_model = upload(ctx, make_image(tmp_path / "m.png"), "m.safetensors")
    with pytest.raises(InputError, match=r"m\.safetensors: not a model file"):
        rt.render(realtime.Request(None, not_model, photo, size=32))


def test_video_gatys_on_a_tiny_clip(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    clip = upload(ctx, gradient_clip(tmp_path / "c.mp4", frames=3))
    style = upload(ctx, make_image(tmp_path / "s.png"))
    req = video.Request(clip, StyleChoice(image_uploads=(style,)), size=32, max_frames=2, steps_first=2, steps=1)
    views, sizes = [], []
    for v in video.run(ctx, req, Ticket()):
        views.append(v)
        if v.preview:  # the latest finished frame while it runs (the work folder goes when the clip is done)
            with Image.open(v.preview) as im:
                sizes.append(im.size)
    status, mp4 = views[-1].status, views[-1].mp4
    assert mp4 is not None and Path(mp4).is_file() and "Done: 2 frames" in (status or ""), status
    assert Path(mp4).name == "c-stylised.mp4"
    lines = timed_lines(v.progress for v in views)  # each line: elapsed, and the job's own estimate of the rest
    assert any(m["label"].startswith(f"frame 2 / 2 (pass 1 of {PASSES})") and m["left"] for m in lines), lines
    labels = [m["label"] for m in lines]
    assert labels[0] == "finding the shots…" and "writing the encode…" in labels, labels
    assert {Path(v.preview).name for v in views if v.preview} == {"000000.png", "000001.png"}
    assert sizes and sizes == [(32, 22)] * len(sizes), sizes
    assert ctx.costs["gatys"] > 0  # what a step cost here: the next estimate uses it


def test_cancel_stops_a_video_within_a_frame(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    clip = upload(ctx, gradient_clip(tmp_path / "c.mp4", frames=3))
    style = upload(ctx, make_image(tmp_path / "s.png"))
    req = video.Request(clip, StyleChoice(image_uploads=(style,)), size=32, max_frames=3, steps_first=50, steps=1)
    ticket, views = Ticket(), []
    for v in video.run(ctx, req, ticket):
        views.append(v)
        if v[0] and "step" in v[0]:
            ticket.cancel()
    status, mp4 = views[-1].status, views[-1].mp4
    assert mp4 is None and "Cancelled after 0 frames" in (status or ""), status


def test_cancel_keeps_the_frames_done_as_a_partial_clip_and_resume_finishes_it(tmp_path: Path) -> None:
    from styleverse.io.video import VideoReader

    ctx = make_ctx(tmp_path)
    clip = upload(ctx, gradient_clip(tmp_path / "c.mp4", frames=3))
    style = upload(ctx, make_image(tmp_path / "s.png"))
    req = video.Request(clip, StyleChoice(image_uploads=(style,)), size=32, max_frames=3, steps_first=2, steps=2)
    ticket, views = Ticket(), []
    for v in video.run(ctx, req, ticket):
        views.append(v)
        if v[0] and "frame 2 / 3" in v[0]:  # the first frame of the first pass is done
            ticket.cancel()
    progress, status, partial, paused, _ = views[-1]
    assert "Cancelled after 1 frame." in (status or "") and "Resume" in (status or ""), status
    assert f'value="1" max="{3 * PASSES}"' in (progress or ""), progress  # not a full bar
    assert partial is not None and Path(partial).name == "c-stylised-partial.mp4"
    with VideoReader(partial) as r:
        assert len(list(r.frames())) == 1
    assert isinstance(paused, video.Paused)
    resumed = list(video.run(ctx, req, Ticket(), paused))
    _, status, mp4, held, _ = resumed[-1]
    assert "Done: 3 frames" in (status or "") and held == video.CLEAR, status
    assert any("Resuming" in (v[1] or "") for v in resumed)
    with VideoReader(mp4) as r:
        assert len(list(r.frames())) == 3


def test_errors_name_the_settings_by_their_controls_labels(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Limits(max_steps=50))
    req = _tiny_stylise(ctx, tmp_path, steps=60)
    status = list(stylise.run(ctx, req, Ticket()))[-1].status or ""
    assert f"“{stylise.LABELS['steps']}” must be between 1 and 50" in status and "sv-error" in status
    clip = upload(ctx, gradient_clip(tmp_path / "c.mp4", frames=2))
    style = upload(ctx, make_image(tmp_path / "s.png"))
    knobs = {"size": 32, "max_frames": 1, "steps_first": 2, "steps": 1, "temporal_weight": -1}
    req = video.Request(clip, StyleChoice(image_uploads=(style,)), **knobs)
    _, status, mp4, _, _ = list(video.run(ctx, req, Ticket()))[-1]  # the library's own check, in the worker
    assert "“Temporal weight (0: flickers)” must be a finite number" in (status or "") and mp4 is None


def test_video_refuses_limits_and_a_non_video(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Limits(max_video_frames=5))
    style = upload(ctx, make_image(tmp_path / "s.png"))
    (tmp_path / "notes.txt").write_text("a shopping list, not a film\n" * 50)
    fake = upload(ctx, tmp_path / "notes.txt", "clip.mp4")
    req = video.Request(fake, StyleChoice(image_uploads=(style,)), size=32, max_frames=9)
    assert "frames must be between 1 and 5" in (list(video.run(ctx, req, Ticket()))[-1][1] or "")
    req = video.Request(fake, StyleChoice(image_uploads=(style,)), size=32, max_frames=2, steps_first=1, steps=1)
    last = list(video.run(ctx, req, Ticket()))[-1]
    assert "not a video" in (last[1] or "") and last[2] is None
    assert "clip.mp4: not a video" in (last[1] or "") and str(tmp_path) not in (last[1] or "")  # no server path


def test_video_facts_of_the_uploaded_clip_and_the_time_the_settings_take(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    clip = upload(ctx, gradient_clip(tmp_path / "walk.mp4", frames=6, size=(96, 64)))
    req = video.Request(clip, StyleChoice(), size=48, max_frames=4, steps_first=10, steps=5)
    line = video.facts(ctx, req)
    assert "walk.mp4: 6 frames at 10 fps, 96×64 px, 0.6 s." in line, line
    assert "These settings: the first 4 frames at 48×32 px, about " in line and "sv-error" not in line, line
    frames, size, seconds = video.estimate(_info(clip), req)
    mpx = 48 * 32 / 1e6
    assert (frames, size) == (4, (48, 32))
    steps = 10 + 3 * 5 + (PASSES - 1) * 4 * 5  # frame 1, three warm frames, then each later pass on all four
    assert seconds == pytest.approx(steps * mpx * video.GATYS_SECONDS_PER_STEP_MPX)
    independent = video.Request(clip, StyleChoice(), size=48, max_frames=9, steps_first=10, steps=5, temporal_weight=0)
    assert video.estimate(_info(clip), independent)[::2] == (
        6,
        pytest.approx(60 * mpx * video.GATYS_SECONDS_PER_STEP_MPX),
    )
    model = video.Request(clip, StyleChoice(), model="comic.safetensors", size=96, max_frames=6)
    assert video.estimate(_info(clip), model)[2] == pytest.approx(6 * 96 * 64 / 1e6 * video.MODEL_SECONDS_PER_MPX)
    assert "all 6 frames at 96×64 px" in video.facts(ctx, model)
    ctx.costs["gatys"] = 0.5  # as a video job of this server measured it
    assert video.estimate(_info(clip), req, ctx.costs)[2] == pytest.approx(steps * mpx * 0.5)
    assert "about 0 s as the last clip ran here." in video.facts(ctx, req)


def _info(path: str) -> Any:
    from styleverse.io.video import VideoReader

    with VideoReader(path) as r:
        return r.info


def test_video_facts_of_a_file_that_is_not_a_video_say_so_in_one_line(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    (tmp_path / "notes.txt").write_text("a shopping list, not a film\n" * 50)
    line = video.facts(ctx, video.Request(upload(ctx, tmp_path / "notes.txt", "clip.mp4"), StyleChoice()))
    assert "clip.mp4: not a video" in line and "sv-error" in line and str(tmp_path) not in line, line
    assert "Upload a short clip" in video.facts(ctx, video.Request(None, StyleChoice()))
