"""cleanup: the generic simplifications, repeated until none of them changes the graph."""

from __future__ import annotations

import attrs

from npucc.errors import PassError
from npucc.ir.graph import Graph

from .base import Pass, PassResult, register_pass

CLEANUP_PASSES = ("eliminate-noops", "fold-shape-only", "fold-constants", "cse", "dce")


@register_pass
@attrs.frozen
class Cleanup(Pass):
    """Run eliminate-noops, fold-shape-only, fold-constants, cse and dce in rounds until a round
    changes nothing.

    Guarantee: on return no pass of the round would change the graph (a fixed point), so
    Identity ops and no-op reshapes/transposes are gone, transpose and reshape chains are merged,
    everything computable from shapes and constants is a constant, duplicates are merged and dead
    code is removed; each of these keeps the values the graph computes. Raises PassError if no
    fixed point is reached within `max_rounds` rounds."""

    name = "cleanup"
    max_rounds: int = attrs.field(default=20, validator=attrs.validators.ge(1))

    def run(self, graph: Graph) -> PassResult:
        from .pipeline import make_pass  # the pipeline module imports the pass registry lazily

        passes = [make_pass(name) for name in CLEANUP_PASSES]
        counts: dict[str, int] = {}
        changed = False
        for _ in range(self.max_rounds):
            round_changed = False
            for p in passes:
                result = p(graph)
                if result.changed:
                    round_changed = True
                    for k, v in result.counts.items():
                        key = f"{p.name}.{k}"
                        counts[key] = counts.get(key, 0) + v
            if not round_changed:
                return PassResult(changed, {k: v for k, v in counts.items() if v})
            changed = True
        raise PassError(f"cleanup did not reach a fixed point in {self.max_rounds} rounds "
                        f"(counts so far: {counts})")
