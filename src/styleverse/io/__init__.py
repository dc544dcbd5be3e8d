"""Leaf I/O: images (load any format upright in sRGB, atomic writes), video (PyAV reader and writer), the one
resumable-state file format, the artefact file format (banks, models), exclusive output locks, path
confinement and the up-front check of all outputs."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "images": "load_image save_image load_tensor pil_to_tensor tensor_to_pil resize_longest list_images "
        "write_json write_bytes_atomic atomic_path check_output remove_temp_files",
        "video": "VideoReader VideoInfo",
        "video_writer": "VideoWriter",
        "state": "save_state load_state state_path",
        "lock": "output_lock",
        "paths": "resolve_inside is_plain_name",
        "outputs": "Output check_outputs",
        "artifacts": "ArtifactKind read_artifact write_artifact",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
