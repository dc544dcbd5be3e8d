"""Style-aware real-time stylisation (Sanakoyeu et al. 2018): an encoder-decoder generator learned against a
multi-scale patch discriminator from a universe's frames alone, with the style-aware content loss in the
encoder's latent and the transformed image loss; no pretrained network. Its files open as frame stylizers
through :func:`styleverse.fast.open.open_stylizer` and export to ONNX as ``fast`` networks do
(:func:`styleverse.fast.export.export_onnx` takes a :class:`~styleverse.fast.gan.model.GanModel`)."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.fast.gan.model import Discriminator, GanModel, GanSpec, Generator, load_gan, save_gan
    from styleverse.fast.gan.train import GanTrainConfig, GanTrainResult, train_gan
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
