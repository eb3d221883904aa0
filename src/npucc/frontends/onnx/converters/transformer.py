"""Transformer blocks: Attention (opset 23-25) and RotaryEmbedding (opset 23), lowered onto
MatMul, Softmax, Mul, Add, Where, Reshape, Transpose, Slice, Concat and Gather; the opset 27
recurrent blocks: CausalConvWithState (Concat, depthwise Conv, Slice) and LinearAttention (a
core op)."""

from __future__ import annotations

import math

import numpy as np

from ..importer import invalid, unsupported
from . import converter


def _heads_first(cx, x, heads: int, what: str):
    """[B, S, heads * D] -> [B, heads, S, D]."""
    b, s, hidden = cx.shape(x)
    if heads < 1 or hidden % heads:
        raise invalid(f"{what} hidden size {hidden} is not a multiple of its {heads} heads")
    x = cx.emit("Reshape", [x], shape=[b, s, heads, hidden // heads])
    return cx.emit("Transpose", [x], perm=[0, 2, 1, 3])


def _neg_inf_where(cx, allowed, dtype):
    """0 where `allowed`, -inf elsewhere (an additive attention bias)."""
    return cx.emit("Where", [allowed, np.asarray(0, dtype), np.asarray(-np.inf, dtype)])


def _add(cx, a, b):
    return b if a is None else cx.emit("Add", [a, b])


@converter("Attention")
def attention(cx):
    """Scaled dot-product attention as the ONNX spec computes it: (Q sqrt(s)) (K sqrt(s))^T,
    softcap, plus the bias of attn_mask, is_causal (bottom-right aligned: query i sees key
    j <= i + past length), the sliding window and nonpad_kv_seqlen, Softmax, times V. Grouped
    heads (GQA / MQA) multiply each KV head with its group of query heads folded into the rows
    (no copy of K or V); a query row whose keys are all masked gives 0."""
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    dtype = cx.np_dtype(q)
    if dtype.kind != "f":
        raise unsupported(f"Q, K, V of element type {dtype} are not supported (float only)")
    rank = len(cx.shape(q))
    if rank not in (3, 4) or len(cx.shape(k)) != rank or len(cx.shape(v)) != rank:
        raise unsupported(f"Q, K, V of shapes {list(cx.shape(q))}, {list(cx.shape(k))}, "
                          f"{list(cx.shape(v))}: npucc takes all three 3-D [batch, seq, "
                          "heads * size] or all three 4-D [batch, heads, seq, size]")
    qh, kvh = cx.attr("q_num_heads"), cx.attr("kv_num_heads")
    if rank == 3:
        if qh is None or kvh is None:
            raise invalid("3-D Q, K, V need the q_num_heads and kv_num_heads attributes")
        q = _heads_first(cx, q, qh, "Q")
        k, v = _heads_first(cx, k, kvh, "K"), _heads_first(cx, v, kvh, "V")
    elif cx.opset >= 25 and (qh is not None or kvh is not None):
        raise invalid("q_num_heads and kv_num_heads must not be given for 4-D Q, K, V")
    batch, hq, sq, d = cx.shape(q)
    _, hkv, skv, dk = cx.shape(k)
    if (qh is not None and qh != hq) or (kvh is not None and kvh != hkv):
        raise invalid(f"q_num_heads {qh} / kv_num_heads {kvh} disagree with Q {list(cx.shape(q))}"
                      f" and K {list(cx.shape(k))}")
    if cx.shape(k)[0] != batch or cx.shape(v)[:3] != (batch, hkv, skv) or dk != d:
        raise invalid(f"K {list(cx.shape(k))} and V {list(cx.shape(v))} do not fit Q "
                      f"{list(cx.shape(q))} (as [batch, heads, seq, size])")
    if hkv < 1 or hq % hkv:
        raise invalid(f"{hq} query heads are not a multiple of {hkv} key/value heads")
    dv = cx.shape(v)[3]

    # the key/value cache
    if cx.has(4) != cx.has(5):
        raise invalid("past_key and past_value must be given together")
    past = 0
    if cx.has(4):
        pk, pv = cx.input(4), cx.input(5)
        past = cx.shape(pk)[2] if len(cx.shape(pk)) == 4 else -1
        if cx.shape(pk) != (batch, hkv, past, d) or cx.shape(pv) != (batch, hkv, past, dv):
            raise invalid(f"past_key {list(cx.shape(pk))} / past_value {list(cx.shape(pv))} "
                          f"must be [{batch}, {hkv}, past, {d}] / [.., {dv}]")
        k = cx.emit("Concat", [pk, k], axis=2)
        v = cx.emit("Concat", [pv, v], axis=2)
    total = past + skv

    scale = cx.attr("scale")
    scale = 1 / math.sqrt(d) if scale is None else float(scale)
    root = np.asarray(math.sqrt(scale), dtype) if scale >= 0 else None
    if root is None:
        raise unsupported(f"a negative scale ({scale}) is not supported (the spec scales Q and "
                          "K by its square root)")
    groups = hq // hkv
    qs = cx.emit("Mul", [q, root])
    if groups > 1:  # query head h reads KV head h // groups: fold each group into the rows
        qs = cx.emit("Reshape", [qs], shape=[batch, hkv, groups * sq, d])
    kt = cx.emit("Transpose", [cx.emit("Mul", [k, root])], perm=[0, 1, 3, 2])
    scores = cx.emit("MatMul", [qs, kt])
    if groups > 1:
        scores = cx.emit("Reshape", [scores], shape=[batch, hq, sq, total])
    raw = scores
    softcap = float(cx.attr("softcap", 0.0))
    if softcap > 0:
        cap = np.asarray(softcap, dtype)
        scores = cx.emit("Mul", [cx.emit("Tanh", [cx.emit("Div", [scores, cap])]), cap])
    cx.ignore("softmax_precision")  # Softmax accumulates float16 in float32 anyway

    bias = _attention_bias(cx, dtype, batch, hq, sq, skv, past, total)
    biased = scores if bias is None else cx.emit("Add", [scores, bias])
    dead = None  # the query rows whose keys are all masked: 0 (Softmax would give NaN)
    if isinstance(bias, np.ndarray):
        dead = np.isneginf(bias.max(axis=-1, keepdims=True)) if bias.size else None
        dead = dead if dead is not None and dead.any() else None
    elif bias is not None:
        dead = cx.emit("Equal", [cx.emit("ReduceMax", [bias], axes=[len(cx.shape(bias)) - 1],
                                         keepdims=True), np.asarray(-np.inf, dtype)])
    zero = np.asarray(0, dtype)
    probs = cx.emit("Softmax", [biased if dead is None else
                                cx.emit("Where", [dead, zero, biased])], axis=-1)
    if dead is not None:
        probs = cx.emit("Where", [dead, zero, probs])
    mode = cx.attr("qk_matmul_output_mode", 0)
    if mode not in (0, 1, 2, 3):
        raise invalid(f"qk_matmul_output_mode must be 0, 1, 2 or 3, got {mode}")
    grouped = probs
    if groups > 1:
        grouped = cx.emit("Reshape", [probs], shape=[batch, hkv, groups * sq, total])
    y = cx.emit("MatMul", [grouped, v])
    if groups > 1:
        y = cx.emit("Reshape", [y], shape=[batch, hq, sq, dv])
    if rank == 3:
        y = cx.emit("Reshape", [cx.emit("Transpose", [y], perm=[0, 2, 1, 3])],
                    shape=[batch, sq, hq * dv])
    outs = [y, k, v]
    if cx.num_outputs > 3 and cx.node.output[3]:
        outs.append({0: raw, 1: scores, 2: biased, 3: probs}[mode])
    return tuple(outs[:max(cx.num_outputs, 1)])


def _attention_bias(cx, dtype, batch, heads, sq, skv, past, total):
    """The additive bias [.., sq, total] of attn_mask, is_causal, the sliding window and
    nonpad_kv_seqlen (0 or -inf, plus a float mask); None when there is none."""
    full = (batch, heads, sq, total)
    bias = None
    if cx.has(3):
        mask = cx.input(3)
        mshape = list(cx.shape(mask))
        mdtype = cx.np_dtype(mask)
        if mdtype != np.bool_ and mdtype != dtype:
            raise invalid(f"attn_mask is {mdtype}; it must be bool or {dtype} (as Q)")
        if not mshape or mshape[-1] > total:
            raise invalid(f"attn_mask {mshape} has more keys than the {total} of past and "
                          "current keys")
        if mshape[-1] < total:  # the missing keys are masked
            fill = np.full(mshape[:-1] + [total - mshape[-1]],
                           False if mdtype == np.bool_ else -np.inf, mdtype)
            mask = cx.emit("Concat", [mask, fill], axis=len(mshape) - 1)
            mshape[-1] = total
        try:
            ok = len(mshape) <= 4 and np.broadcast_shapes(tuple(mshape), full) == full
        except ValueError:
            ok = False
        if not ok:
            raise invalid(f"attn_mask {mshape} does not broadcast to the scores {list(full)}")
        bias = _neg_inf_where(cx, mask, dtype) if mdtype == np.bool_ else mask

    nonpad = cx.input(6) if cx.opset >= 24 and cx.has(6) else None
    if nonpad is not None:
        if cx.has(4):
            raise invalid("nonpad_kv_seqlen cannot be combined with past_key / past_value")
        if cx.shape(nonpad) != (batch,):
            raise invalid(f"nonpad_kv_seqlen must have shape [{batch}], got "
                          f"{list(cx.shape(nonpad))}")
        nonpad = cx.emit("Cast", [nonpad], to="i64") if cx.np_dtype(nonpad) != np.int64 \
            else nonpad
        # key j is padding from nonpad_kv_seqlen[b] on; the causal frontier of a query block is
        # then at nonpad_kv_seqlen[b] - sq
        lim = cx.emit("Reshape", [nonpad], shape=[batch, 1, 1])
        keys = np.arange(total, dtype=np.int64).reshape(1, 1, total)
        pad_bias = _neg_inf_where(cx, cx.emit("Less", [keys, lim]), dtype)
        bias = _add(cx, bias, cx.emit("Reshape", [pad_bias], shape=[batch, 1, 1, total]))
    else:
        lim = np.asarray(past + sq, np.int64)  # the frontier sits at the past length

    # with o the frontier offset (lim - sq) and e = j - i: causal e <= o, window
    # o - e <= left and e - o <= right, each written as a comparison with lim
    e = np.arange(total, dtype=np.int64)[None, :] - np.arange(sq, dtype=np.int64)[:, None] + sq
    conds = []
    if cx.attr("is_causal", 0):
        conds.append(cx.emit("LessOrEqual", [e, lim]))
    if cx.opset >= 25:
        for name, sign in (("left_window_size", 1), ("right_window_size", -1)):
            w = cx.attr(name, -1)
            if w < -1:
                raise invalid(f"{name} must be -1 (unbounded) or >= 0, got {w}")
            if w >= 0:
                bound = e + sign * w
                conds.append(cx.emit("LessOrEqual", [lim, bound] if sign > 0 else [bound, lim]))
    if conds:
        allowed = conds[0]
        for c in conds[1:]:
            allowed = cx.emit("And", [allowed, c])
        if nonpad is not None:
            allowed = cx.emit("Reshape", [allowed], shape=[batch, 1, sq, total])
        bias = _add(cx, bias, _neg_inf_where(cx, allowed, dtype))
    return bias


@converter("RotaryEmbedding")
def rotary_embedding(cx):
    """RoPE: the first rotary_embedding_dim values of each head, as pairs (x1, x2) of its two
    halves (or, interleaved, of even and odd positions), become (cos x1 - sin x2,
    sin x1 + cos x2) with cos / sin of the cache row the token's position_id picks (or the
    caches as given, [batch, seq, dim / 2], without position_ids)."""
    x = cx.input(0)
    shape = list(cx.shape(x))
    dtype = cx.np_dtype(x)
    if dtype.kind != "f":
        raise unsupported(f"input of element type {dtype} is not supported (float only)")
    heads = cx.attr("num_heads")
    if len(shape) == 4:  # [batch, heads, seq, size]
        b, _, s, d = shape
        xh = x
        cache_shape = [b, 1, s, -1]
    elif len(shape) == 3:
        if not heads:
            raise invalid("a 3-D input [batch, seq, hidden] needs the num_heads attribute")
        b, s, hidden = shape
        if hidden % heads:
            raise invalid(f"hidden size {hidden} is not a multiple of num_heads {heads}")
        d = hidden // heads
        xh = cx.emit("Reshape", [x], shape=[b, s, heads, d])
        cache_shape = [b, s, 1, -1]
    else:
        raise invalid(f"input must be 3-D or 4-D, got {shape}")
    rot = cx.attr("rotary_embedding_dim", 0) or d
    if rot % 2 or not 0 < rot <= d:
        raise invalid(f"rotary_embedding_dim {rot} must be even and at most the head size {d}")
    half = rot // 2
    caches = []
    for i, name in ((1, "cos_cache"), (2, "sin_cache")):
        c = cx.input(i)
        if cx.np_dtype(c) != dtype:
            raise invalid(f"{name} is {cx.np_dtype(c)}, the input {dtype}")
        if cx.has(3):
            pos = cx.input(3)
            if cx.shape(pos) != (b, s) or len(cx.shape(c)) != 2:
                raise invalid(f"position_ids {list(cx.shape(pos))} must be [{b}, {s}] and "
                              f"{name} {list(cx.shape(c))} [max_position, {half}]")
            c = cx.emit("Gather", [c, pos], axis=0)
        if cx.shape(c) != (b, s, half):
            raise invalid(f"{name} {list(cx.shape(c))} must be [{b}, {s}, {half}] (the "
                          "rotary dim / 2 per token)")
        caches.append(cx.emit("Reshape", [c], shape=[*cache_shape[:3], half]))
    cos, sin = caches
    last = 3
    interleaved = cx.attr("interleaved", 0)

    def part(start, end, step=1):
        return cx.emit("Slice", [xh], starts=[start], ends=[end], axes=[last], steps=[step])
    x1, x2 = (part(0, rot, 2), part(1, rot, 2)) if interleaved else \
        (part(0, half), part(half, rot))
    real = cx.emit("Sub", [cx.emit("Mul", [cos, x1]), cx.emit("Mul", [sin, x2])])
    imag = cx.emit("Add", [cx.emit("Mul", [sin, x1]), cx.emit("Mul", [cos, x2])])
    if interleaved:
        pairs = [cx.emit("Unsqueeze", [t], axes=[4]) for t in (real, imag)]
        rotated = cx.emit("Reshape", [cx.emit("Concat", pairs, axis=4)],
                          shape=list(cx.shape(real))[:3] + [rot])
    else:
        rotated = cx.emit("Concat", [real, imag], axis=last)
    if rot < d:
        rotated = cx.emit("Concat", [rotated, part(rot, d)], axis=last)
    return rotated if len(shape) == 4 else cx.emit("Reshape", [rotated], shape=shape)


@converter("CausalConvWithState")
def causal_conv_with_state(cx):
    """Opset 27: the input after past_state (or k - 1 zeros), a depthwise Conv without padding,
    optionally times its sigmoid (silu / swish); present_state is the last k - 1 positions of
    that padded sequence."""
    x, w = cx.input(0), cx.input(1)
    shape = cx.shape(x)
    if len(shape) != 3 or len(cx.shape(w)) != 3:
        raise invalid(f"input {list(shape)} and weight {list(cx.shape(w))} must be 3-D")
    b, c, length = shape
    k = cx.shape(w)[2]
    if cx.shape(w)[:2] != (c, 1) or k < 1:
        raise invalid(f"weight {list(cx.shape(w))} must be [{c}, 1, k] (depthwise)")
    act = cx.attr("activation", "none")
    if act not in ("none", "silu", "swish"):
        raise invalid(f"activation {act!r} is not one of none, silu, swish")
    if k == 1:
        raise unsupported("a kernel of size 1 (an empty present_state) is not supported")
    past = cx.input(3) if cx.has(3) else np.zeros((b, c, k - 1), cx.np_dtype(x))
    if cx.shape(past) != (b, c, k - 1):
        raise invalid(f"past_state {list(cx.shape(past))} must be [{b}, {c}, {k - 1}]")
    padded = cx.emit("Concat", [past, x], axis=2)
    y = cx.emit("Conv", [padded, w, cx.input(2) if cx.has(2) else None], strides=[1],
                pads=[0, 0], dilations=[1], group=c)
    if act != "none":
        y = cx.emit("Mul", [y, cx.emit("Sigmoid", [y])])
    present = cx.emit("Slice", [padded], starts=[length], ends=[length + k - 1], axes=[2],
                      steps=[1])
    return y, present


@converter("LinearAttention")
def linear_attention(cx):
    """Opset 27: the recurrence of every update_rule (linear, gated, delta, gated_delta) is the
    core LinearAttention op, token by token; chunk_size (a tuning hint) is ignored."""
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    for h in (q, k, v):
        if cx.np_dtype(h).kind != "f" or len(cx.shape(h)) != 3:
            raise invalid(f"query, key, value must be float [B, T, heads * size], got "
                          f"{cx.np_dtype(h)} {list(cx.shape(h))}")
    hq, hkv = cx.attr("q_num_heads"), cx.attr("kv_num_heads")
    if hq < 1 or hkv < 1 or hq % hkv or cx.shape(q)[2] % hq:
        raise invalid(f"q_num_heads {hq} must be a positive multiple of kv_num_heads {hkv} "
                      f"dividing the query's {cx.shape(q)[2]}")
    cx.ignore("chunk_size")
    scale = float(cx.attr("scale", 0.0)) or 1 / math.sqrt(cx.shape(q)[2] // hq)
    args = [q, k, v] + [cx.input(i) if cx.has(i) else None for i in (3, 4, 5)]
    return cx.emit("LinearAttention", args, q_num_heads=hq, kv_num_heads=hkv, scale=scale,
                   update_rule=cx.attr("update_rule", "gated_delta"))
