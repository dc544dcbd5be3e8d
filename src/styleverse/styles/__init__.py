"""Style sets: their Gram and channel-statistics targets (weighted averaging), banks (a universe's averaged
style as one file), streamed and resumable builds, and the analysis of which style images belong together."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.styles.analysis import Analysis, AnalysisSettings, analyze
    from styleverse.styles.bank import Bank, bank_targets, build_bank, load_bank, save_bank
    from styleverse.styles.job import AnalyzeJob, BankJob, StyleInputs, run_analyze, run_bank
    from styleverse.styles.record import ResultRecord
    from styleverse.styles.resume import BankCheckpoint, BankInterrupted
    from styleverse.styles.spec import StyleSpec
    from styleverse.styles.targets import StyleImage, StyleSet, expand_styles, weighted_mean
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
