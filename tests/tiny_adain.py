"""A tiny random AdaIN model (encoder at 1/16 width, random decoder), shared by the AdaIN and video tests."""

from __future__ import annotations

import torch

from styleverse.fast.adain.model import ENCODER_LAYER, AdaINModel, AdaINNet, Decoder, DecoderSpec
from styleverse.nn.vgg import load_backbone

WIDTH = 1 / 16  # relu4_1 has 32 channels


def tiny_model(seed: int = 0) -> AdaINModel:
    """A random encoder (the one ``build_model('random', width=1/16)`` makes) and a random tiny decoder."""
    enc, info = load_backbone("random", upto=ENCODER_LAYER, width=WIDTH)
    torch.manual_seed(seed)
    dec = Decoder(DecoderSpec("vgg19", enc.channels(ENCODER_LAYER), WIDTH))
    return AdaINModel(AdaINNet(enc, dec).eval(), info.to_dict(), {"note": "test"}, 7)
