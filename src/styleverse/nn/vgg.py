"""VGG16/VGG19 feature network with the paper's layer names, and where its weights come from.

The module list matches torchvision's ``vgg.features`` index for index, so state dicts saved by
torchvision (``features.0.weight`` ...) load unchanged. Layers are named as in the paper and Gatys et
al.: ``conv1_1``, ``relu1_1``, ``pool1``, ... ``relu5_4``. ImageNet normalisation happens inside
:meth:`VGGFeatures.forward`; callers pass RGB in [0, 1].

Weight sources (``load_backbone(spec)``): ``imagenet`` (the official torchvision file, hash-checked,
cached in the torch hub cache), ``random`` (seeded; for tests and offline trials), or a path to a
``.safetensors`` / ``.pth`` file: a plain VGG state dict or a universe-classifier checkpoint, whose
conv base is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from styleverse.errors import ConfigError, DamagedFileError, WeightsError
from styleverse.io.tensorfile import read_tensors

log = logging.getLogger("styleverse")

CONFIGS: dict[str, list[int]] = {
    "vgg16": [2, 2, 3, 3, 3],
    "vgg19": [2, 2, 4, 4, 4],
}
WIDTHS = [64, 128, 256, 512, 512]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Official torchvision files; the 8 hex digits in the name are the start of the file's SHA-256.
DOWNLOAD_TIMEOUT_S = 60.0
IMAGENET_URLS = {
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


def layer_names(arch: str) -> list[str]:
    """Names of ``features`` modules in order, e.g. ``['conv1_1', 'relu1_1', ..., 'pool5']``."""
    if arch not in CONFIGS:
        raise WeightsError(f"unknown architecture '{arch}'; choose one of {', '.join(CONFIGS)}")
    names: list[str] = []
    for b, n in enumerate(CONFIGS[arch], start=1):
        for k in range(1, n + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return names


@dataclass(frozen=True)
class BackboneInfo:
    """Identity of a feature network, recorded in sidecars, banks and checkpoints."""

    arch: str = "vgg19"
    source: str = "imagenet"  # imagenet | random | file | classifier
    pooling: str = "max"
    path: str | None = None
    sha256: str | None = None
    seed: int | None = None
    width: float = 1.0

    @property
    def identity(self) -> str:
        """Short string that is equal exactly when two backbones compute the same features."""
        if self.source == "random":
            tag = f"random:seed={self.seed}:width={self.width}"
        elif self.source == "imagenet":
            tag = "imagenet"
        else:
            tag = f"{self.source}:sha256={(self.sha256 or '')[:16]}"
        return f"{self.arch}/{self.pooling}/{tag}"

    @property
    def weights(self) -> str:
        """The :func:`load_backbone` source that rebuilds this network: ``imagenet``, ``random`` or its file."""
        return self.source if self.source in ("imagenet", "random") else str(self.path)

    def flags(self) -> str:
        """The command-line flags that select this network."""
        seed = f" --seed {self.seed}" if self.source == "random" else ""
        return f"--backbone {self.weights}{seed} --arch {self.arch} --pooling {self.pooling}"

    def mismatch(self, recorded: BackboneInfo, where: str) -> str | None:
        """The one message for running this network on something ``where`` (a bank) made with ``recorded``
        and only valid under it, naming the flags of either way out; None when the two are the same."""
        fix = f"pass {recorded.flags()}, or rebuild the bank with {self.flags()}"
        if recorded.pooling != self.pooling:
            return f"{where}: made with {recorded.pooling} pooling, this run uses {self.pooling}; {fix}"
        if recorded.identity != self.identity:
            return f"{where}: made with backbone {recorded.identity}, this run uses {self.identity}; {fix}"
        return None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "identity": self.identity}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BackboneInfo:
        """The inverse of :meth:`to_dict` (what banks, sidecars and model files record); the derived
        ``identity`` and keys it does not know are left out, missing ones take their defaults."""
        keys = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in keys and v is not None}
        for k, kind in (("seed", int), ("width", float), ("arch", str), ("pooling", str), ("source", str)):
            if k in kw:
                kw[k] = kind(kw[k])
        return cls(**kw)


class ImageNetNormalize(nn.Module):
    """RGB in [0, 1] -> ImageNet-normalised input, the one place it happens (DESIGN.md: inside the backbone).
    Its buffers are not persistent, so state dicts keep torchvision's keys."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class VGGFeatures(nn.Module):
    """VGG conv base. ``forward(x, layers)`` returns ``{name: activation}`` and stops after the deepest
    requested layer. ``upto`` drops every module after that layer (smaller model, less memory)."""

    def __init__(self, arch: str = "vgg19", pooling: str = "max", width: float = 1.0, upto: str | None = None):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise WeightsError(f"pooling must be 'max' or 'avg', not '{pooling}'")
        names = layer_names(arch)
        if upto is not None and upto not in names:
            raise WeightsError(f"unknown layer '{upto}' for {arch}; known: {', '.join(names)}")
        mods: list[nn.Module] = []
        c_in = 3
        for b, n in enumerate(CONFIGS[arch]):
            c_out = max(1, round(WIDTHS[b] * width))
            for _ in range(n):
                mods += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=False)]
                c_in = c_out
            mods.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        keep = len(names) if upto is None else names.index(upto) + 1
        self.arch, self.pooling, self.width = arch, pooling, width
        self.names = names[:keep]
        self.features = nn.Sequential(*mods[:keep])
        self.normalize = ImageNetNormalize()

    def channels(self, name: str) -> int:
        """Number of channels a named layer outputs."""
        idx = self.names.index(name)
        for m in reversed(list(self.features)[: idx + 1]):
            if isinstance(m, nn.Conv2d):
                return m.out_channels
        return 3

    def forward(
        self,
        x: torch.Tensor,
        layers: list[str] | tuple[str, ...] | set[str],
        reduce: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        checkpoint_blocks: int = 0,
    ) -> dict[str, torch.Tensor]:
        """``{name: activation}`` for ``layers``, running the network only up to the deepest of them.

        ``reduce`` maps a layer to a function applied the moment the layer is computed; its result is returned
        instead, so the activation itself need not outlive the pass (Gram matrices: at 4096 px ``relu1_1`` alone
        is 4 GiB in float32). ``checkpoint_blocks`` runs the first N conv blocks under activation checkpointing
        when gradients flow: their activations (the largest) are recomputed during backward instead of kept,
        for about 5% more compute per step.
        """
        wanted = set(layers)
        unknown = wanted - set(self.names)
        if unknown:
            raise WeightsError(f"layer(s) {', '.join(sorted(unknown))} not in this network ({self.arch})")
        last = max(self.names.index(n) for n in wanted) if wanted else -1
        need = 2 ** sum(1 for n in self.names[:last] if n.startswith("pool"))
        if min(x.shape[-2:]) < need:
            raise ConfigError(
                f"image is {x.shape[-2]}x{x.shape[-1]} px but layer {self.names[last]} needs at least {need} px "
                "on the short side; use a larger size"
            )
        h = self.normalize(x)
        out: dict[str, torch.Tensor] = {}
        start = 0
        pools = [i for i, n in enumerate(self.names) if n.startswith("pool")]
        if checkpoint_blocks > 0 and torch.is_grad_enabled() and x.requires_grad and pools:
            start = min(last + 1, pools[min(checkpoint_blocks, len(pools)) - 1] + 1)
            h, out = checkpoint(self._run, h, 0, start, wanted, reduce, use_reentrant=False)
        h, rest = self._run(h, start, last + 1, wanted, reduce)
        return {**out, **rest}

    def _run(
        self,
        h: torch.Tensor,
        start: int,
        stop: int,
        wanted: set[str],
        reduce: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Modules ``start`` to ``stop - 1`` on ``h``: the last output and the wanted (reduced) layers."""
        out: dict[str, torch.Tensor] = {}
        for i in range(start, stop):
            module, name = self.features[i], self.names[i]
            if i < 2 and torch.is_autocast_enabled(h.device.type):
                # conv1_1 sees the pixels: in bf16 they would be rounded to about one 8-bit level, so the small
                # moves an optimiser makes near convergence would vanish (and relu1_1's Gram would be noisy).
                # Float32 here costs under 1% of the network's operations.
                with torch.autocast(h.device.type, enabled=False):
                    h = module(h.float())
            else:
                h = module(h)
            if name in wanted:
                out[name] = reduce[name](h) if reduce is not None and name in reduce else h
        return h, out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


BACKBONE_ALTERNATIVES = "pass --backbone PATH to a VGG state dict, or --backbone random for an untrained network"


def imagenet_weights_path(
    arch: str = "vgg19", url: str | None = None, download: bool = True, alternatives: str = BACKBONE_ALTERNATIVES
) -> Path:
    """Path of the official ImageNet file in the torch hub cache, downloading it (hash-checked) if needed.

    The hash prefix is taken from the file name (torchvision's convention ``name-<sha256[:8]>.pth``).
    ``alternatives`` ends the error message: what else the calling command accepts (its own flag names).
    """
    url = url or IMAGENET_URLS[arch]
    fname = os.path.basename(url)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / fname
    if cached.exists():
        return cached
    how = f"download {IMAGENET_URLS[arch]} and put it at {cached}, or {alternatives}"
    if not download:
        raise WeightsError(f"ImageNet {arch} weights are not cached at {cached}; {how}")
    stem = Path(fname).stem
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    cached.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, cached)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a dropped connection fails instead of hanging forever
    try:
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=prefix, progress=sys.stderr.isatty())
    except RuntimeError as e:  # hash mismatch
        raise WeightsError(f"downloaded {url} failed its hash check ({e}); {how}") from None
    except Exception as e:  # network errors come in many types
        raise WeightsError(f"cannot download ImageNet {arch} weights ({type(e).__name__}: {e}); {how}") from None
    finally:
        socket.setdefaulttimeout(old_timeout)
    return cached


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read tensors (and safetensors metadata) from a file; pickles are read with ``weights_only``."""
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            return read_tensors(path)  # checked against its checksum when styleverse wrote it
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except DamagedFileError:
        raise
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run whatever code the file holds
        raise WeightsError(
            f"{path}: not a weights file, or a pickle holding objects other than tensors (refused: loading it "
            "could run code); use a .safetensors file or a plain state dict"
        ) from None
    except Exception as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise WeightsError(f"{path}: not a readable weights file ({type(e).__name__}: {first})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: does not hold a state dict of tensors")
    return obj, {}


def load_state_into(
    model: nn.Module, state: Mapping[str, torch.Tensor], prefixes: Sequence[str], where: str, arch: str = ""
) -> None:
    """Copy the tensors under ``prefixes`` into ``model``, each checked first (present, right shape, floating
    where the model's is, finite): the one checked loader behind backbones, classifier checkpoints and their
    resume states."""
    own = {k: v for k, v in model.state_dict().items() if k.startswith(tuple(prefixes))}
    which = f"; is it a {arch} state dict?" if arch else ""
    for key, ref in own.items():
        t = state.get(key)
        if t is None:
            raise WeightsError(f"{where}: missing '{key}'{which}")
        if tuple(t.shape) != tuple(ref.shape):
            shape = f"{where}: '{key}' has shape {tuple(t.shape)}, expected {tuple(ref.shape)}"
            raise WeightsError(shape + (f" ({arch})" if arch else ""))
        if t.is_floating_point() != ref.is_floating_point() or t.dtype == torch.bool:
            raise WeightsError(f"{where}: '{key}' holds {t.dtype}, expected {ref.dtype}")
        if not torch.isfinite(t).all():
            raise WeightsError(f"{where}: '{key}' holds NaN or inf values")
    with torch.no_grad():
        for key, ref in own.items():
            ref.copy_(state[key])


def load_backbone(
    spec: str = "imagenet",
    arch: str = "vgg19",
    pooling: str = "max",
    seed: int = 0,
    upto: str | None = None,
    width: float = 1.0,
    download: bool = True,
    random_note: str = "stylisation will look poor",
) -> tuple[VGGFeatures, BackboneInfo]:
    """Build the feature network from a weight source (see module doc). Returns it in eval mode with
    gradients off for its parameters, and its :class:`BackboneInfo`. ``random_note`` says in the warning a
    random network gives what that means for the calling job."""
    if spec == "random":
        log.warning("using a randomly initialised %s: %s (for tests/offline only)", arch, random_note)
        g = torch.Generator().manual_seed(seed)
        model = VGGFeatures(arch, pooling, width, upto)
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        info = BackboneInfo(arch, "random", pooling, seed=seed, width=width)
    elif spec == "imagenet":
        path = imagenet_weights_path(arch, download=download)
        model = VGGFeatures(arch, pooling, 1.0, upto)
        load_state_into(model, read_state_dict(path)[0], ("features.",), str(path), arch)
        info = BackboneInfo(arch, "imagenet", pooling, path=str(path))
    else:
        path = Path(spec)
        state, meta = read_state_dict(path)
        source = "classifier" if meta.get("styleverse_kind") == "classifier" else "file"
        arch = meta.get("arch", arch)
        width = float(meta.get("width", 1.0))
        model = VGGFeatures(arch, pooling, width, upto)
        load_state_into(model, state, ("features.",), str(path), arch)
        info = BackboneInfo(arch, source, pooling, path=str(path), sha256=_sha256(path), width=width)
    model.eval().requires_grad_(False)
    return model, info
