"""What every trainer shares: the step loop (checkpoints, exact resume, Ctrl-C, events), RNG
state, the files written beside a model and their check."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.training.loop import LoopConfig, LoopResult, TrainTask, run_loop
    from styleverse.training.outputs import check_training_outputs, loss_plot_path, samples_path
    from styleverse.training.rng import rng_state, set_rng_state
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
