"""Leaf I/O: images (load any format upright in sRGB, atomic writes), video (PyAV reader and writer), the one
resumable-state file format, the artefact file format (banks, models), exclusive output locks, path
confinement and the up-front check of all outputs."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.io.artifacts import ArtifactKind, read_artifact, write_artifact
    from styleverse.io.images import (
        atomic_path,
        check_output,
        list_images,
        load_image,
        load_tensor,
        pil_to_tensor,
        remove_temp_files,
        resize_longest,
        save_image,
        tensor_to_pil,
        write_bytes_atomic,
        write_json,
    )
    from styleverse.io.lock import output_lock
    from styleverse.io.outputs import Output, check_outputs
    from styleverse.io.paths import is_plain_name, resolve_inside
    from styleverse.io.state import load_state, save_state, state_path
    from styleverse.io.video import VideoInfo, VideoReader
    from styleverse.io.video_writer import VideoWriter
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
