"""What every trainer shares: the step loop (checkpoints, exact resume, Ctrl-C, events), torchrun/DDP, RNG
state, the files written beside a model and their check."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "loop": "TrainTask LoopConfig LoopResult run_loop",
        "distributed": "DistContext setup_distributed teardown_distributed process_group",
        "rng": "rng_state set_rng_state",
        "outputs": "check_training_outputs loss_plot_path samples_path",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
