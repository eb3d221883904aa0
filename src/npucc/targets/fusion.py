"""Which max-pools a target's conv unit can apply on the fly (the `pool_fusion` rules of a
target file), read by the fuse-conv-pool pass and by the fused-pool constraint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs


@attrs.frozen
class PoolFusionRule:
    """A max-pool the conv unit can fuse: a square `kernel` window with `stride`, no padding,
    over an input whose height and width have `parity` ("even", "odd" or None for any), are not
    in `excluded_sizes`, and whose width is below `max_width[bits]` (when given for the bit
    width the model runs in)."""

    kernel: int
    stride: int
    parity: str | None = None
    excluded_sizes: tuple[int, ...] = ()
    max_width: Mapping[int, int] = attrs.field(factory=dict, converter=dict)

    def why_not(self, h: int, w: int, bits: int) -> str | None:
        """None if a pool over an h x w input fits this rule, else the reason."""
        for size in (h, w):
            if self.parity and size % 2 != (self.parity == "odd"):
                return f"input size {size} is not {self.parity}"
            if size in self.excluded_sizes:
                return f"input size {size} is excluded"
        limit = self.max_width.get(bits)
        if limit is not None and w >= limit:
            return f"input width {w} is not below {limit} for {bits}-bit"
        return None


def pool_fusion_problem(rules: Sequence[PoolFusionRule], kernel: int, stride: int, h: int,
                        w: int, bits: int) -> str | None:
    """None if one of `rules` fuses a kernel x kernel / stride max-pool over an h x w input at
    `bits` bits, else why not (the reason of the rule with this kernel and stride, if any)."""
    reasons = []
    for r in rules:
        if r.kernel == kernel and r.stride == stride:
            why = r.why_not(h, w, bits)
            if why is None:
                return None
            reasons.append(why)
    if reasons:
        return "; ".join(reasons)
    return f"no rule fuses a {kernel}x{kernel}/{stride} max-pool"
