"""Style sets: their Gram and channel-statistics targets (weighted averaging), banks (a universe's averaged
style as one file), streamed and resumable builds, and the analysis of which style images belong together."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "targets": "StyleSet StyleImage expand_styles weighted_mean",
        "bank": "Bank build_bank save_bank load_bank bank_targets",
        "analysis": "AnalysisSettings Analysis analyze",
        "job": "StyleInputs BankJob run_bank AnalyzeJob run_analyze",
        "spec": "StyleSpec",
        "resume": "BankCheckpoint BankInterrupted",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
