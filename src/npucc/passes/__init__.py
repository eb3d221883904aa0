"""Passes: the pass contract, pipelines, the pass manager and its instruments, pattern rewriting.

    from npucc.passes import PassManager, VerifyEach
    report = PassManager("eliminate-noops,fold-constants,cse,dce", [VerifyEach()]).run(graph)
"""

from .base import Pass, PassResult, all_passes, function_pass, get_pass, register_pass
from .default_passes import build_pipeline
from .instruments import Instrument, PrintIR, Timing, ValidateEach, VerifyEach, default_instruments
from .manager import PassManager, PassRecord, PassReport, run_passes
from .pipeline import (
                       DEFAULT_PIPELINE,
                       Pipeline,
                       default_pipeline,
                       parse_pipeline,
                       place_in_default_pipeline,
)
from .preprocess import InsertPreprocess, Preprocess
from .rewrite import (
                       Any,
                       Const,
                       Match,
                       NoMatch,
                       Op,
                       RewritePass,
                       Rewriter,
                       Rule,
                       apply_rewrites,
                       match,
)

__all__ = [
    "DEFAULT_PIPELINE", "Any", "Const", "InsertPreprocess", "Instrument", "Match", "NoMatch", "Op",
    "Pass", "Preprocess", "build_pipeline",
    "PassManager", "PassRecord", "PassReport", "PassResult", "Pipeline", "PrintIR", "RewritePass",
    "Rewriter", "Rule", "Timing", "ValidateEach", "VerifyEach", "all_passes", "apply_rewrites",
    "default_instruments", "default_pipeline", "function_pass", "get_pass", "match",
    "parse_pipeline", "place_in_default_pipeline", "register_pass", "run_passes",
]
