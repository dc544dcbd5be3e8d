"""Seconds per optimisation step, float32 vs bf16 autocast + channels_last, at 256 and 512 px.

Final style and content losses of each run are re-measured in float32 on the same model, with the same
seed, content, styles and steps, so the precisions are compared on equal terms. Uses the ImageNet VGG19
when it is cached (else a seeded random one; the table says which) and the built-in samples.

    python benchmarks/bench_transfer.py [--sizes 256 512] [--steps 10] [--backbone imagenet|random|PATH]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import cpu_has_native_bf16
from styleverse.errors import WeightsError
from styleverse.io.images import pil_to_tensor, resize_longest
from styleverse.nn.losses import content_loss, style_loss
from styleverse.nn.vgg import imagenet_weights_path
from styleverse.samples import content_photo, sample_style
from styleverse.transfer.optimize import StyleTransfer, TransferConfig, build_model
from styleverse.transfer.targets import GramDict, image_grams, weighted_mean


class _Fixed:
    """A StyleSet stand-in returning precomputed float32 targets (so both precisions chase the same ones)."""

    def __init__(self, targets: GramDict):
        self.t = targets

    def targets(self, *_: object, **__: object) -> GramDict:
        return self.t


def fp32_losses(model, image: torch.Tensor, content: torch.Tensor, targets: GramDict, cfg: TransferConfig):  # type: ignore[no-untyped-def]
    with torch.inference_mode():
        m = model.float().to(memory_format=torch.contiguous_format)
        rep, ref = m(image), m(content, want_style=False)
        s = cfg.style_weight * style_loss(rep.grams, targets, m.style_weights)
        c = cfg.content_weight * content_loss(rep.content, ref.content)
    return s.item(), c.item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--backbone", default="auto", help="auto: imagenet if cached, else random")
    ap.add_argument("--optimizer", default="lbfgs")
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    backbone = args.backbone
    if backbone == "auto":
        try:
            imagenet_weights_path("vgg19", download=False)
            backbone = "imagenet"
        except WeightsError:
            backbone = "random"
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    table = Table(title=f"styleverse transfer: {args.steps} {args.optimizer} steps, VGG19 ({backbone})")
    for col in (
        "device",
        "size",
        "precision",
        "s/step",
        "speed-up",
        "final style",
        "final content",
        "Δstyle",
        "Δcontent",
    ):
        table.add_column(col, justify="right")
    for dev in devices:
        for size in args.sizes:
            model, _ = build_model(backbone)
            device = torch.device(dev)
            content = pil_to_tensor(resize_longest(content_photo(), size))
            styles = [pil_to_tensor(resize_longest(sample_style(n), size)) for n in ("halftone", "poster")]
            targets = weighted_mean((image_grams(model, s, torch.device("cpu")), 1.0) for s in styles)
            base: tuple[float, float, float] | None = None
            for prec in ("fp32", "bf16"):
                cfg = TransferConfig(
                    steps=args.steps, scales=(size,), precision=prec, device=dev, optimizer=args.optimizer
                )
                engine = StyleTransfer(model, cfg)
                engine.optimize(content.to(device), targets, content, 2)  # warm-up (oneDNN/cuDNN kernel choice)
                if dev == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                res = engine.run(content, _Fixed(targets))  # type: ignore[arg-type]
                if dev == "cuda":
                    torch.cuda.synchronize()
                per = (time.perf_counter() - t0) / args.steps
                s, c = fp32_losses(model.to("cpu"), res.image, content, targets, cfg)
                if base is None:
                    base = (per, s, c)
                table.add_row(
                    dev, str(size), prec, f"{per:.3f}", f"{base[0] / per:.2f}x", f"{s:.4g}", f"{c:.4g}",
                    f"{(s - base[1]) / base[1]:+.1%}", f"{(c - base[2]) / max(base[2], 1e-12):+.1%}",
                )  # fmt: skip
    Console(width=150).print(table)
    print(f"CPU native bf16 (AMX/AVX512-BF16): {cpu_has_native_bf16()}; torch {torch.__version__}; "
          f"threads {torch.get_num_threads()}")  # fmt: skip


if __name__ == "__main__":
    main()
