"""Style banks: a universe's averaged style as one reusable file.

The paper (section 4) found that averaging Gram matrices over many frames of a universe gave a stronger,
cleaner style than any single frame. A bank stores that average once, so stylising needs no style images.
It is built by streaming (:mod:`.stream`: only running sums are held) from inputs expanded by :mod:`.inputs`,
resumably (:mod:`.resume`); this module holds the bank, its file format and the checks that a bank fits the
network that uses it.

File format (``.safetensors``):

* ``mean.<layer>``: float32 (C, C), the weighted mean Gram Ḡ (normalised by C·H·W, see ``losses.gram``);
* ``sq_norm_sum.<layer>``: float64 scalar, Σ wᵢ ‖Gᵢ‖²_F;
* ``weight_sum`` / ``weight_sq_sum``: float64 scalars Σ wᵢ and Σ wᵢ².

* ``stat_mean.<layer>`` / ``stat_std.<layer>``: float32 (C,), AdaIN's style (Huang & Belongie 2017): the
  weighted mean over the images of each channel's mean, and of each channel's std (population std per
  image; the mean of per-image stds, not the pooled std: see ``styles.targets.ChannelStats`` for why).
  Banks written before AdaIN lack them; they still serve Gatys runs, and :func:`adain_stats` says how to
  rebuild them.

With these the set's spread (paper section 6: the variance of the styles around the average Gram) follows
from the bank alone: Σ wᵢ ‖Gᵢ − Ḡ‖² = Σ wᵢ ‖Gᵢ‖² − W ‖Ḡ‖². Metadata key ``styleverse_kind`` is
``style_bank``; key ``bank`` holds JSON: format, backbone (``BackboneInfo.to_dict()``), layers, channels,
size, count, precision, spread, sources ``[[path, weight], ...]``, settings, versions, with the channel
statistics ``channel_stats`` (their definition), and ``preview``: a small contact sheet of the first source
images that could be read when it was made (a base64 PNG, :func:`preview_sheet`; absent in older banks), so a
bank can be shown as a picture where its images are not.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import torch

from styleverse.cancel import Stop, never
from styleverse.distributed import DistContext, gather_objects
from styleverse.errors import ConfigError, InputError
from styleverse.io.artifacts import ArtifactKind, read_artifact, write_artifact
from styleverse.io.images import check_output
from styleverse.nn.features import StyleContentModel
from styleverse.nn.vgg import WIDTHS, BackboneInfo
from styleverse.styles.resume import BankCheckpoint, add_with_checkpoints, fingerprint, load_state, save_state
from styleverse.styles.stream import Callback, stream_style
from styleverse.styles.targets import (
    ChannelStats,
    GramDict,
    RunningSums,
    StatDict,
    StyleImage,
    add_all,
    merge_sums,
    sq_norm,
)
from styleverse.versions import versions

log = logging.getLogger("styleverse")

BANK_KIND = "style_bank"
BANK_FORMAT = 1
BANK = ArtifactKind(BANK_KIND, "bank", "style bank", "a style bank",
                    "make one with `styleverse styles bank IMAGES -o FILE`", BANK_FORMAT)  # fmt: skip
PREVIEW_IMAGES, PREVIEW_TILE = 4, 48  # the preview sheet: first images, side of each tile (px)
STATS_DEFINITION = "weighted mean of per-image channel means; weighted mean of per-image population stds"


@dataclass
class Bank:
    """A weighted mean Gram per layer, the sums that give its spread, and where it came from."""

    mean: GramDict
    weight_sum: float
    weight_sq_sum: float
    sq_norm_sum: dict[str, float]
    count: int
    backbone: dict[str, object]
    size: int | None = None
    sources: list[tuple[str, float]] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    stats: StatDict | None = None  # AdaIN channel mean/std per layer; None in banks made before AdaIN
    preview: str = ""  # base64 PNG contact sheet of its first images (preview_sheet); "" when none

    @property
    def layers(self) -> list[str]:
        return list(self.mean)

    def abs_spread(self) -> dict[str, float]:
        """Per layer Σ wᵢ ‖Gᵢ − Ḡ‖²_F / Σ wᵢ (weighted variance of the Grams around their mean)."""
        return {k: max(0.0, self.sq_norm_sum[k] / self.weight_sum - sq_norm(m)) for k, m in self.mean.items()}

    def spread(self) -> dict[str, float]:
        """Per layer spread relative to ‖Ḡ‖² (scale-free; 0 for identical images)."""
        return {k: v / max(sq_norm(self.mean[k]), 1e-30) for k, v in self.abs_spread().items()}

    def mean_spread(self) -> float:
        """The set's spread in one number, the mean of :meth:`spread` over the layers: what ``styles bank`` and
        ``styles info`` both print (0 = identical images)."""
        per = self.spread()
        return sum(per.values()) / max(1, len(per))

    def spread_loss(self, layer_weights: Mapping[str, float]) -> float:
        """The spread in ``losses.style_loss`` units (MSE over C² entries, layer-weighted): the part of the
        weighted mean per-image style loss that no output image can remove: Σ wᵢ ‖G − Gᵢ‖² = W ‖G − Ḡ‖² +
        Σ wᵢ ‖Gᵢ − Ḡ‖² per layer, so that mean is the loss against Ḡ plus this."""
        a = self.abs_spread()
        return sum(w * a[k] / self.mean[k].numel() for k, w in layer_weights.items())

    def metadata(self) -> dict[str, object]:
        return {
            "format": BANK_FORMAT,
            "backbone": self.backbone,
            "layers": self.layers,
            "channels": {k: int(v.shape[0]) for k, v in self.mean.items()},
            "size": self.size,
            "count": self.count,
            "weight_sum": self.weight_sum,
            "spread": self.spread(),
            "sources": [[str(p), w] for p, w in self.sources],
            "settings": self.settings,
            "versions": versions(),
            **({"channel_stats": STATS_DEFINITION} if self.stats is not None else {}),
            **({"preview": self.preview} if self.preview else {}),
        }


def build_bank(
    model: torch.nn.Module,
    info: BackboneInfo,
    images: Sequence[StyleImage],
    size: int | None = 512,
    device: torch.device | None = None,
    precision: str = "fp32",
    callback: Callback | None = None,
    settings: Mapping[str, object] | None = None,
    checkpoint: BankCheckpoint | None = None,
    stop: Stop = never,
    ctx: DistContext | None = None,
) -> Bank:
    """Stream ``images`` through ``model`` (a ``StyleContentModel``, e.g. from ``nn.features.build_model``)
    at longest side ``size`` and return their bank. Memory stays bounded whatever the number of images.

    ``stop()`` is asked before each image. With ``checkpoint`` the running sums are saved beside the output as the build
    goes and when ``stop()`` turns true or on Ctrl-C (then :class:`BankInterrupted`), and ``checkpoint.resume``
    continues a saved build with the same settings and inputs (``bank_resume``); the result equals an uninterrupted
    build. The state file stays until the caller has saved the bank and calls ``checkpoint.clear()``.

    Under ``torchrun`` (``ctx`` of several processes) each process streams every ``world_size``-th image
    from its rank on, keeps its own ``checkpoint`` (a state file per rank, saved once its share is done
    too, so a process killed while the others finish loses nothing), and the running sums of all processes
    are gathered and added in rank order; every process returns the same bank. Its float64 sums then differ
    from one process's only by the order of the additions, and the float32 mean Grams by at most one
    rounding step (relative 1e-6)."""
    if not images:
        raise ConfigError("a bank needs at least one image")
    if size is not None and size < 16:
        raise ConfigError("size must be at least 16 pixels", setting="size")
    dev = device or next(model.parameters()).device
    extra = {"precision": precision, **(settings or {}), **upscaled(images, size)}
    ctx = ctx or DistContext()
    mine = list(images[ctx.rank :: ctx.world_size])
    if checkpoint is None:
        sums = add_all(RunningSums(), stream_style(model, mine, size, dev, precision, callback, stop=stop))
    else:
        layers = list(getattr(model, "style_weights", {}))
        fp = fingerprint(info, layers, mine, size, precision, settings or {})
        saved = checkpoint.resume and (ctx.world_size == 1 or checkpoint.path.is_file())
        channels = {k: cast(StyleContentModel, model).backbone.channels(k) for k in layers}
        sums = load_state(checkpoint.path, fp, mine, channels) if saved else RunningSums()
        rest = stream_style(model, mine, size, dev, precision, callback, sums.count, stop)
        sums = add_with_checkpoints(sums, rest, checkpoint, fp, len(mine))
        if ctx.world_size > 1:
            save_state(checkpoint.path, sums, fp)
    sums = merge_sums(gather_objects(_on_cpu(sums), ctx)) if ctx.world_size > 1 else sums
    sources = [(str(s.path), s.weight) for s in images]
    return bank_from_sums(sums, info, size, sources, extra)


def upscaled(images: Sequence[StyleImage], size: int | None) -> dict[str, object]:
    """``{"upscaled": {"count", "smallest"}}`` when some images are smaller than ``size`` (their longest side,
    read from the file header) and so are enlarged to it: a bank says "seen at 512 px" of 224-px frames only
    with this beside it (issue 19); empty when none is. Logged as a warning too."""
    from styleverse.io.images import header_size

    sides = [max(hw) for hw in (header_size(s.path) for s in images) if hw is not None]
    small = [x for x in sides if size is not None and x < size]
    if not small:
        return {}
    log.warning(
        "%d of %d style images are smaller than size %d (down to %d px) and are enlarged to it; pass --size %d "
        "to see them at their own size", len(small), len(images), size, min(small), max(small),
    )  # fmt: skip
    return {"upscaled": {"count": len(small), "smallest": min(small)}}


def bank_from_sums(
    sums: RunningSums, info: BackboneInfo, size: int | None, sources: list[tuple[str, float]],
    settings: dict[str, object],
) -> Bank:  # fmt: skip
    """The one way a :class:`Bank` is made from running sums (a ``styles bank`` build, an analysis' subset or
    group), so every bank holds the same contents however it was made: mean Grams, the spread's sums, the
    AdaIN channel statistics, sources and settings."""
    return Bank(
        sums.mean(), sums.weight, sums.weight_sq, dict(sums.sq_norm), sums.count, info.to_dict(), size, sources,
        settings, sums.stats(), preview_sheet([p for p, _ in sources]),
    )  # fmt: skip


def preview_sheet(paths: Sequence[str | os.PathLike[str]], tile: int = PREVIEW_TILE) -> str:
    """A 2x2 contact sheet of the first :data:`PREVIEW_IMAGES` readable images of ``paths`` (each fitted into
    a ``tile`` square), as a base64 PNG of a few kB; "" when none can be read (a frame of a video, a file
    gone). What a bank keeps to be shown as a picture (the app's gallery of universes)."""
    from PIL import Image

    tiles: list[Image.Image] = []
    for p in paths:
        if len(tiles) == PREVIEW_IMAGES:
            break
        try:
            with Image.open(p) as im:
                im.draft("RGB", (tile, tile))  # JPEGs decode at a fraction of their size
                t = im.convert("RGB")
            t.thumbnail((tile, tile))
            tiles.append(t)
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    if not tiles:
        return ""
    cols = min(2, len(tiles))
    sheet = Image.new("RGB", (cols * tile, -(-len(tiles) // cols) * tile), "white")
    for i, t in enumerate(tiles):
        x, y = (i % cols) * tile + (tile - t.width) // 2, (i // cols) * tile + (tile - t.height) // 2
        sheet.paste(t, (x, y))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _on_cpu(sums: RunningSums) -> RunningSums:
    """The sums with every tensor on the CPU (what one process hands the others)."""

    def cpu(d: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.cpu() for k, v in d.items()}

    return replace(sums, total=cpu(sums.total), stat_mean=cpu(sums.stat_mean), stat_std=cpu(sums.stat_std))


def save_bank(bank: Bank, path: str | os.PathLike[str], overwrite: bool = False, inputs: Iterable = ()) -> Path:
    """Write a bank atomically; refuses to replace an input or (without ``overwrite``) an existing file."""

    out = check_output(path, inputs, overwrite)
    tensors: dict[str, torch.Tensor] = {
        "weight_sum": torch.tensor(bank.weight_sum, dtype=torch.float64),
        "weight_sq_sum": torch.tensor(bank.weight_sq_sum, dtype=torch.float64),
    }
    for k, m in bank.mean.items():
        tensors[f"mean.{k}"] = m.float().contiguous()
        tensors[f"sq_norm_sum.{k}"] = torch.tensor(bank.sq_norm_sum[k], dtype=torch.float64)
    for k, st in (bank.stats or {}).items():
        tensors[f"stat_mean.{k}"] = st.mean.float().contiguous()
        tensors[f"stat_std.{k}"] = st.std.float().contiguous()
    return write_artifact(out, BANK, tensors, bank.metadata())


def _read(p: Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    tensors, meta = read_artifact(p, BANK)
    if not (isinstance(meta.get("layers"), list) and isinstance(meta.get("backbone"), dict)):
        raise InputError(f"{p}: style bank metadata is damaged; {BANK.hint}")
    return tensors, meta


def load_bank(path: str | os.PathLike[str]) -> Bank:
    """Read and validate a bank: one-line :class:`InputError` for missing, damaged or NaN-holding files."""
    p = Path(path)
    t, raw = _read(p)
    meta: dict[str, Any] = dict(raw)  # JSON checked field by field below
    mean: GramDict = {}
    sq: dict[str, float] = {}
    try:
        for k in meta["layers"]:
            m, s = t[f"mean.{k}"], t[f"sq_norm_sum.{k}"]
            if m.dim() != 2 or m.shape[0] != m.shape[1] or not torch.isfinite(m).all() or not torch.isfinite(s):
                raise InputError(f"{p}: layer {k} is not a finite square Gram matrix; rebuild the bank")
            mean[k], sq[k] = m.float(), float(s)
        w, w2 = float(t["weight_sum"]), float(t["weight_sq_sum"])
        sources = [(str(a), float(b)) for a, b in meta.get("sources", [])]
        count, size = int(meta.get("count", 0)), meta.get("size")
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise InputError(f"{p}: style bank is damaged ({type(e).__name__}: {e}); rebuild the bank") from None
    if not (w > 0 and math.isfinite(w) and math.isfinite(w2)):
        raise InputError(f"{p}: style bank weight sum is {w}; rebuild the bank")
    settings: dict[str, object] = meta["settings"] if isinstance(meta.get("settings"), dict) else {}
    stats = _read_stats(p, t, mean)
    preview = meta["preview"] if isinstance(meta.get("preview"), str) else ""
    return Bank(mean, w, w2, sq, count, meta["backbone"], size, sources, settings, stats, preview)


def _read_stats(p: Path, t: Mapping[str, torch.Tensor], mean: GramDict) -> StatDict | None:
    """The AdaIN channel statistics of every layer, checked (C finite values each, std >= 0), or None for a
    bank made before they were stored."""
    if not any(k.startswith("stat_mean.") for k in t):
        return None
    stats: StatDict = {}
    for k, g in mean.items():
        m, s = t.get(f"stat_mean.{k}"), t.get(f"stat_std.{k}")
        c = g.shape[0]
        if m is None or s is None or m.shape != (c,) or s.shape != (c,):
            raise InputError(f"{p}: channel statistics of layer {k} are missing or misshapen; rebuild the bank")
        if not (torch.isfinite(m).all() and torch.isfinite(s).all() and (s >= 0).all()):
            raise InputError(f"{p}: channel statistics of layer {k} are not finite; rebuild the bank")
        stats[k] = ChannelStats(m.float(), s.float())
    return stats


def check_compatible(
    bank: Bank, info: BackboneInfo, style_layers: Iterable[str], where: str = "bank", precision: str | None = None
) -> None:
    """:class:`ConfigError` unless the bank was made by the same feature network, holds the layers, and (when
    ``precision``, the run's, is given) its Grams are as exact as the run's: a float32 bank serves any run,
    a bf16 bank only a bf16 run (bf16 features shift Grams by more than an optimisation can ignore)."""
    made = str(bank.settings.get("precision", "fp32"))
    if precision is not None and made == "bf16" and precision != "bf16":
        raise ConfigError(
            f"{where}: its Grams were computed in bf16, this run computes style in {precision}; rebuild the bank "
            "with precision fp32 (exact, serves every run) or run with precision bf16",
            setting="precision",
        )
    wrong_network = info.mismatch(BackboneInfo.from_dict(bank.backbone), where)
    if wrong_network:
        raise ConfigError(wrong_network)
    wanted = [str(x).partition(":")[0] for x in style_layers]
    missing = [k for k in wanted if k not in bank.mean]
    if missing:
        raise ConfigError(
            f"{where}: lacks style layer(s) {', '.join(missing)} (it has {', '.join(bank.layers)}); rebuild it "
            f"with style_layers {' '.join(wanted)} or choose layers it has",
            setting="style_layers",
        )
    for k in wanted:
        c = max(1, round(WIDTHS[int(k[4]) - 1] * info.width)) if k.startswith(("relu", "conv")) else None
        if c is not None and bank.mean[k].shape[0] != c:
            raise InputError(f"{where}: layer {k} has {bank.mean[k].shape[0]} channels, {info.arch} has {c}")


def rebuild_command(bank: Bank, path: str | os.PathLike[str]) -> str:
    """The ``styles bank`` command line that rebuilds ``bank`` at ``path`` from the inputs it records."""
    st = bank.settings
    inputs, weights = st.get("inputs"), st.get("weights")
    args = " ".join(map(str, inputs)) if isinstance(inputs, list) and inputs else "IMAGES..."
    extra = f" --label {st['label']}" if st.get("label") else ""
    if isinstance(weights, list):
        extra += " --weights " + " ".join(map(str, weights))
    style = " --style-layers " + " ".join(bank.layers)
    size = f" --size {bank.size}" if bank.size else ""
    flags = BackboneInfo.from_dict(bank.backbone).flags()
    return f"styleverse styles bank {args} -o {path}{extra} {flags}{style}{size} --overwrite"


def adain_stats(
    path: str | os.PathLike[str], info: BackboneInfo, layer: str = "relu4_1", precision: str | None = None
) -> ChannelStats:
    """The bank's AdaIN style at ``layer`` (channel mean and std, float32) after :func:`check_compatible`.

    A bank made before channel statistics were stored still serves Gatys runs; for AdaIN it is a one-line
    :class:`InputError` giving the ``styles bank`` command that rebuilds it from its recorded inputs."""
    bank = load_bank(path)
    check_compatible(bank, info, [layer], where=str(path), precision=precision)
    if bank.stats is None:
        raise InputError(
            f"{path}: this bank was made before styleverse stored AdaIN channel statistics (it still works for "
            f"stylize); rebuild it with: {rebuild_command(bank, path)}"
        )
    st = bank.stats[layer]
    return ChannelStats(st.mean.clone(), st.std.clone())


def bank_targets(
    bank: Bank | str | Path,
    info: BackboneInfo,
    style_layers: Iterable[str],
    size: int | None = None,
    precision: str | None = None,
    where: str | None = None,
) -> dict[str, torch.Tensor]:
    """Float32 mean Gram per requested layer from a bank (a file, or one already loaded: ``where`` names it in
    messages), after :func:`check_compatible`. Grams are size-normalised; ``size`` (the run's) is only
    compared with the bank's in a debug log line."""
    where = where or str(bank if not isinstance(bank, Bank) else "bank")
    bank = bank if isinstance(bank, Bank) else load_bank(bank)
    layers = [str(x).partition(":")[0] for x in style_layers]
    check_compatible(bank, info, layers, where=where, precision=precision)
    if size is not None and bank.size is not None and size != bank.size:
        log.debug("%s: bank made at %d px, used at %d px", where, bank.size, size)
    return {k: bank.mean[k].float().clone() for k in layers}
