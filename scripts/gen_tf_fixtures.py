"""Generate the TensorFlow / TFLite test fixtures in tests/fixtures/tf/ (needs tensorflow-cpu and
ai-edge-litert, and tf_keras for the fused-LSTM fixtures; run once, commit the results).

    python scripts/gen_tf_fixtures.py [--only NAME ...] [--out tests/fixtures/tf]

Every fixture is a model file plus `<name>.npz` with `input_<i>` arrays and `expected_<i>` arrays
computed by the framework itself (TensorFlow for .pb, LiteRT with its default kernels for float
.tflite; int8 models with LiteRT's reference kernels, `expected_opt_<i>`
with its optimized ones), so the tests compare
npucc against numbers it did not produce. Weights are random (seeded): keras.applications
architectures are built with weights=None and every weight and BatchNorm statistic is redrawn.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "tf"


def _tf():
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


# ---------------------------------------------------------------- models

def randomize(model, seed=0):
    """Redraw every weight of a keras model: kernels variance-preserving, BN stats non-trivial."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        kind = type(layer).__name__
        new = []
        if kind == "BatchNormalization":
            names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
            for name, w in zip(names, ws):
                if "gamma" in name:
                    new.append(rng.uniform(0.5, 1.5, w.shape))
                elif "beta" in name:
                    new.append(rng.normal(0, 0.2, w.shape))
                elif "mean" in name:
                    new.append(rng.normal(0, 0.2, w.shape))
                else:  # variance
                    new.append(rng.uniform(0.5, 1.5, w.shape))
        else:
            for w in ws:
                if w.ndim >= 2:
                    fan_in = int(np.prod(w.shape[:-1]))
                    if kind == "DepthwiseConv2D":
                        fan_in = int(np.prod(w.shape[:2]))
                    new.append(rng.normal(0, np.sqrt(2.0 / fan_in), w.shape))
                else:
                    new.append(rng.normal(0, 0.1, w.shape))
        layer.set_weights([np.asarray(n, dtype=w.dtype) for n, w in zip(new, ws)])
    return model


def mobilenet_v2(tf):
    import keras

    m = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                       classes=10)
    return randomize(m, 1)


def detector(tf):
    """A small detector-like net: strided backbone, FPN-ish upsampling (bilinear and nearest,
    with align_corners / half_pixel variants), concat, per-level heads, reshape + concat + sigmoid
    and softmax over classes."""
    import keras
    from keras import layers as L

    x_in = keras.Input((64, 64, 3), batch_size=1)
    c1 = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x_in)       # 32
    c2 = L.DepthwiseConv2D(3, strides=2, padding="same")(c1)                      # 16
    c2 = L.Conv2D(16, 1, activation="relu6")(c2)
    c3 = L.Conv2D(24, 3, strides=2, padding="same")(c2)                           # 8
    c3 = L.BatchNormalization()(c3)
    c3 = L.LeakyReLU(negative_slope=0.1)(c3)
    up = L.Resizing(16, 16, interpolation="bilinear")(c3)
    p2 = L.Concatenate()([c2, up])
    p2 = L.Conv2D(16, 3, padding="same", activation="relu")(p2)
    up2 = L.UpSampling2D(2, interpolation="nearest")(p2)
    p1 = L.Concatenate()([c1, up2])
    p1 = L.Conv2D(8, 3, padding="same", activation="relu")(p1)
    heads_box, heads_cls = [], []
    for p, n in ((p1, 32 * 32), (p2, 16 * 16), (c3, 8 * 8)):
        heads_box.append(L.Reshape((n * 2, 4))(L.Conv2D(8, 1)(p)))
        heads_cls.append(L.Reshape((n * 2, 3))(L.Conv2D(6, 3, padding="same")(p)))
    boxes = L.Activation("sigmoid")(L.Concatenate(axis=1)(heads_box))
    scores = L.Softmax()(L.Concatenate(axis=1)(heads_cls))
    return randomize(keras.Model(x_in, [boxes, scores]), 2)


def tf_resize_graph(tf):
    """tf.compat.v1 image resizes with align_corners / half_pixel_centers (not reachable from
    keras layers) plus pads, slices and reductions."""
    def fn(x):
        a = tf.compat.v1.image.resize_bilinear(x, (13, 11), align_corners=True)
        b = tf.raw_ops.ResizeBilinear(images=x, size=(13, 11), half_pixel_centers=True)
        c = tf.raw_ops.ResizeNearestNeighbor(images=x, size=(13, 11), align_corners=True)
        d = tf.raw_ops.ResizeNearestNeighbor(images=x, size=(13, 11), half_pixel_centers=True)
        e = tf.raw_ops.ResizeBilinear(images=x, size=(13, 11))
        f = tf.raw_ops.ResizeNearestNeighbor(images=x, size=(13, 11))
        y = tf.concat([a, b, c, d, e, f], axis=3)
        y = tf.pad(y, [[0, 0], [1, 2], [2, 1], [0, 0]], mode="REFLECT")
        y = tf.pad(y, [[0, 0], [1, 0], [0, 1], [0, 0]], mode="SYMMETRIC")
        y = tf.pad(y, [[0, 0], [1, 1], [0, 0], [0, 0]], constant_values=0.5)
        s = y[:, 1:-1:2, ::3, 2:]
        m = tf.reduce_mean(y, axis=[1, 2], keepdims=True)
        return s, tf.squeeze(m, axis=[1, 2])
    return fn, [(1, 7, 5, 4)]


def ops_zoo(tf):
    """Many single ops on one path: transpose conv, pads, slices, reductions, shuffles and
    activations."""
    import keras
    from keras import layers as L

    x_in = keras.Input((16, 16, 4), batch_size=1)
    y = L.Conv2DTranspose(8, 3, strides=2, padding="same")(x_in)                 # 32
    y = L.PReLU(shared_axes=[1, 2])(y)
    y = L.ZeroPadding2D(((1, 0), (2, 1)))(y)                                      # 33x35
    y = L.MaxPooling2D(3, strides=2, padding="valid")(y)                          # 16x17
    y = L.AveragePooling2D(2, strides=2, padding="same")(y)                       # 8x9
    y = L.Cropping2D(((0, 0), (0, 1)))(y)                                         # 8x8
    y = L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(y)                         # 16x16x2
    y = L.Conv2D(8, 3, padding="same", activation="tanh")(y)
    y = L.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(y)                         # 8x8x32
    y = L.Activation("hard_swish")(y)
    z = L.Lambda(lambda t: t[:, 1:7:2, :, 3:20])(y)
    z = L.Lambda(lambda t: tf.transpose(t, (0, 3, 1, 2)))(z)
    z = L.Lambda(lambda t: t * 0.5 - tf.reduce_mean(t, axis=1, keepdims=True))(z)
    z = L.Flatten()(z)
    g = L.GlobalAveragePooling2D()(y)
    g = L.Dense(12, activation="elu")(g)
    g = L.Lambda(lambda t: t / (1.5 + tf.abs(t)))(g)
    out = L.Concatenate()([g, L.Dense(12)(z)])
    out = L.Activation("sigmoid")(out)
    return randomize(keras.Model(x_in, out), 3)


def small_int8_net(tf):
    """Conv / pools / add / concat / depthwise / dense: the small full-int8 net."""
    import keras
    from keras import layers as L

    x_in = keras.Input((24, 24, 3), batch_size=1)
    a = L.Conv2D(8, 3, padding="same", activation="relu")(x_in)
    b = L.Conv2D(8, 3, padding="same", activation="relu6")(x_in)
    s = L.Add()([a, b])
    p = L.MaxPooling2D(2)(s)                                                       # 12
    q = L.AveragePooling2D(3, strides=1, padding="same")(s)
    q = L.Conv2D(8, 3, strides=2, padding="same")(q)                               # 12
    c = L.Concatenate()([p, q])
    d = L.DepthwiseConv2D(3, padding="valid", activation="relu")(c)                # 10
    d = L.Conv2D(12, 1)(d)
    g = L.GlobalAveragePooling2D()(d)
    f = L.Flatten()(L.MaxPooling2D(2)(d))
    out = L.Concatenate()([L.Dense(10)(g), L.Dense(10, activation="relu")(f)])
    return randomize(keras.Model(x_in, out), 4)


def extra_int8_net(tf):
    """More int8 kernels: mul, sub, pad, resizes, transpose conv, leaky relu, logistic, tanh,
    hard swish, mean, softmax."""
    import keras
    from keras import layers as L

    x_in = keras.Input((12, 12, 4), batch_size=1)
    a = L.Conv2D(8, 3, padding="same")(x_in)
    b = L.Conv2D(8, 1, activation="sigmoid")(x_in)
    m = L.Multiply()([a, b])
    m = L.Subtract()([m, L.Conv2D(8, 1)(x_in)])
    m = L.LeakyReLU(negative_slope=0.2)(m)
    p = L.ZeroPadding2D(1)(m)                                                      # 14
    p = L.Conv2D(8, 3, strides=2, activation="tanh")(p)                            # 6
    u1 = L.Resizing(12, 12, interpolation="nearest")(p)                            # 12
    u2 = L.Resizing(12, 12, interpolation="bilinear")(p)
    t = L.Conv2DTranspose(8, 2, strides=2)(p)
    u = L.Concatenate()([u1, u2, t])
    u = L.Activation("hard_swish")(L.Conv2D(8, 3, padding="same")(u))
    g = L.Lambda(lambda v: tf.reduce_mean(v, axis=[1, 2]))(u)
    out = L.Softmax()(L.Dense(10)(g))
    return randomize(keras.Model(x_in, out), 5)


def keras3_reshapes(tf):
    """Keras 3 with a dynamic batch (the default `keras.Input` without batch_size): Flatten,
    Reshape and a Dense on a 3-D tensor become SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (and
    SHAPE -> GATHER -> REDUCE_PROD) chains in the converted model."""
    import keras
    from keras import layers as L
    x_in = keras.Input((16, 16, 3))
    y = L.Conv2D(8, 3, padding="same")(x_in)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.MaxPooling2D(2)(y)                                                       # 8x8x8
    r = L.Dense(4)(L.Reshape((-1, 8))(y))                                          # 64x4
    f = L.Dense(10, activation="relu")(L.Flatten()(y))
    return randomize(keras.Model(x_in, [f, r]), 6)


def math_ops(tf):
    """TFLite op coverage: unary and binary math (EXP ... FLOOR_MOD, GELU both ways, ADD_N,
    RELU_0_TO_1), LOG_SOFTMAX and L2_NORMALIZATION, one output each."""
    def fn(x, y):
        a = tf.abs(x) + 0.5
        return (tf.exp(x), tf.math.log(a), tf.sqrt(a), tf.math.rsqrt(a), tf.square(x),
                tf.math.squared_difference(x, y), tf.pow(a, y), tf.floor(x * 3),
                tf.math.ceil(x * 3), tf.round(x * 3), tf.sin(x * 3), tf.cos(x * 3), tf.sign(x),
                tf.math.floordiv(x * 4, a), tf.math.floormod(x * 4, a - 1.0),
                tf.nn.gelu(x, approximate=True), tf.nn.gelu(y, approximate=False),
                tf.minimum(tf.maximum(x, 0.0), 1.0), tf.math.add_n([x, y, a]),
                tf.nn.log_softmax(x, axis=-1), tf.math.l2_normalize(y, axis=-1))
    return fn, [(2, 8), (2, 8)]


def logic_ops(tf):
    """TFLite op coverage: comparisons, logic, SELECT / SELECT_V2, CAST, REDUCE_MIN / ANY / ALL,
    ARG_MAX / ARG_MIN, TOPK_V2, CUMSUM, ONE_HOT."""
    def fn(x, y):
        r, q = tf.round(x * 2), tf.round(y * 2)
        conds = (tf.equal(r, q), tf.not_equal(r, q), x > y, x >= r / 2, x < y, x <= r / 2,
                 tf.logical_and(x > 0, y < 0), tf.logical_or(x > 0.5, y > 0.5),
                 tf.logical_not(tf.logical_and(x > 0, y < 0)))
        arg = tf.argmax(x, axis=1, output_type=tf.int32)
        values, indices = tf.math.top_k(x, k=3)
        return (tf.stack([tf.cast(c, tf.float32) for c in conds]),
                tf.where(x > y, x, 0.25), tf.raw_ops.Select(condition=x[:, 0] > 0, x=x, y=y),
                tf.reduce_min(x, axis=1), tf.reduce_any(x > 0.7, axis=1),
                tf.reduce_all(x > -0.7, axis=1), arg, tf.argmin(y, axis=1), values, indices,
                tf.math.cumsum(x, axis=1, exclusive=True, reverse=True),
                tf.one_hot(arg, depth=8, on_value=2.0, off_value=-1.0, axis=0),
                tf.cast(x * 10, tf.int32))
    return fn, [(4, 8), (4, 8)]


def cond_ops(tf):
    """tf.cond on conditions computed from the data, which the converter writes as IF operators
    with branch subgraphs: two outputs from one IF, branches holding their own constants, and an
    IF inside a branch."""
    w = tf.constant(np.random.default_rng(31).normal(0, 0.5, (8, 8)).astype(np.float32))

    def fn(x, y):
        def inner(v):
            return tf.cond(tf.reduce_max(v) > 0.5, lambda: v * 3.0, lambda: v - 0.5)

        a, b = tf.cond(tf.reduce_mean(x) > tf.reduce_mean(y),
                       lambda: (tf.nn.relu(x @ w), inner(y)),
                       lambda: (tf.tanh(x) * 0.5, y + 1.0))
        c = tf.cond(x[0, 0] > 0, lambda: tf.reduce_sum(y, axis=1), lambda: tf.reduce_max(x, axis=1))
        return a, b, c
    return fn, [(4, 8), (4, 8)]


def tensor_ops(tf):
    """TFLite op coverage: SPLIT, SPLIT_V, UNPACK, REVERSE_V2, GATHER_ND, SCATTER_ND,
    BATCH_MATMUL (adjoint x and y), LOCAL_RESPONSE_NORMALIZATION, SPACE_TO_BATCH_ND /
    BATCH_TO_SPACE_ND (around a convolution they become one dilated CONV_2D in today's
    converter; the tests write that triple by hand)."""
    w = tf.constant(np.random.default_rng(21).normal(0, 0.3, (3, 3, 4, 5)).astype(np.float32))

    def fn(x, y):
        a, b = tf.split(x, 2, axis=3)
        p, q, r = tf.split(x, [1, -1, 2], axis=1)
        u = tf.unstack(x, axis=3)
        s2b = tf.space_to_batch(x, [2, 2], [[2, 0], [0, 0]])
        b2s = tf.batch_to_space(tf.nn.relu(s2b) * 2.0, [2, 2], [[1, 1], [0, 0]])
        dil = tf.batch_to_space(tf.nn.conv2d(tf.space_to_batch(
            y, [2, 2], [[2, 2], [2, 2]]), w, 1, "VALID"), [2, 2], [[0, 0], [0, 0]])
        m1, m2 = tf.reshape(x, (8, 8, 4)), tf.reshape(y, (8, 8, 4))
        return (a - b, q, p + r[:, :1], u[0] * u[1] + u[2] - u[3], tf.reverse(x, axis=[2, 3]),
                tf.gather_nd(x, [[0, 1, 2], [0, 5, 7]]),
                tf.scatter_nd([[1], [3]], x[0, 0, :2, :], [6, 4]),
                tf.matmul(m1, m2, adjoint_b=True), tf.matmul(m1, m2, adjoint_a=True),
                tf.nn.local_response_normalization(x, depth_radius=1, bias=1.5, alpha=0.3,
                                                   beta=0.75),
                b2s, dil)
    return fn, [(1, 8, 8, 4), (1, 8, 8, 4)]


def shape_ops(tf):
    """With a dynamic batch, shape-derived FILL, RANGE, BROADCAST_TO, BROADCAST_ARGS and
    ZEROS_LIKE stay in the model (static shapes would fold them in the converter)."""
    def fn(x):
        n = tf.shape(x)[0]
        ramp = tf.cast(tf.range(n * 3), tf.float32)
        total = tf.reduce_sum(x, axis=1, keepdims=True)
        both = tf.broadcast_dynamic_shape(tf.shape(total), tf.shape(x))
        return (x + tf.fill(tf.shape(x), 0.5) + tf.zeros_like(x),
                tf.broadcast_to(total, tf.shape(x)), ramp, tf.broadcast_to(total, both))
    return fn, [(1, 6)]


def lstm_net(tf, steps=6):
    """Keras LSTM layers (UNIDIRECTIONAL_SEQUENCE_LSTM): bidirectional, full sequence, then the
    last state of a time-major one. Keras 2 (the tf_keras package): Keras 3 LSTMs convert to a
    WHILE loop, not the fused op."""
    import tf_keras as keras
    from tf_keras import layers as L

    x_in = keras.Input((steps, 4), batch_size=2)
    y = L.Bidirectional(L.LSTM(4, return_sequences=True))(x_in)  # REVERSE_V2 around one
    y = L.LSTM(8, return_sequences=True)(y)
    y = L.Lambda(lambda t: tf.transpose(t, (1, 0, 2)))(y)
    y = L.LSTM(5, time_major=True)(y)
    return randomize(keras.Model(x_in, L.Dense(3)(y)), 8)


def int8_math(tf):
    """Full-int8 GELU (both forms: lookup tables), SQUARED_DIFFERENCE, and ops npucc refuses in
    int8 (no integer form): LOG_SOFTMAX, L2_NORMALIZATION; one output each."""
    def fn(x, y):
        return (tf.nn.gelu(x, approximate=True), tf.nn.gelu(y * 3.0, approximate=False),
                tf.nn.log_softmax(x, axis=-1), tf.math.squared_difference(x, y),
                tf.math.l2_normalize(y, axis=-1))
    return fn, [(2, 8), (2, 8)]


def int8_layernorm(tf):
    """Full-int8 LayerNormalization as the TFLite converter writes it (MEAN, SQUARED_DIFFERENCE,
    RSQRT, MUL, SUB), and RSQRT / SQUARED_DIFFERENCE reading model inputs of their own."""
    import keras
    from keras import layers as L

    x_in, y_in = keras.Input((6, 16), batch_size=1), keras.Input((6, 16), batch_size=1)
    ln = L.LayerNormalization()(x_in)
    r = L.Lambda(lambda t: tf.math.rsqrt(t * 0.5 + 0.52))(y_in)
    sd = L.Lambda(lambda ts: tf.math.squared_difference(ts[0], ts[1] * 2.0))([x_in, y_in])
    return randomize(keras.Model([x_in, y_in], [ln, r, sd]), 4)


def patched_ops(tf):
    """Ops no TF conversion writes: AVERAGE_POOL_2D and RELU, whose operator codes
    `patch_opcodes` turns into L2_POOL_2D and RELU_0_TO_1 (same inputs and options)."""
    def fn(x):
        p = tf.nn.avg_pool2d(x * 2.0, 3, strides=2, padding="SAME")
        return p + tf.nn.relu(x[:, ::2, ::2, :])
    return fn, [(1, 7, 7, 3)]


def patch_opcodes(blob: bytes, codes: dict[int, int]) -> bytes:
    """Rewrite operator codes in place (builtin_code, and deprecated_builtin_code, which is
    PLACEHOLDER_FOR_GREATER_OP_CODES = 127 for codes >= 127)."""
    import tflite

    out = bytearray(blob)
    m = tflite.Model.GetRootAsModel(blob, 0)
    for k in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(k)
        new = codes.get(code.BuiltinCode())
        if new is None:
            continue
        tab = code._tab
        at, old_at = tab.Pos + tab.Offset(10), tab.Pos + tab.Offset(4)
        assert tab.Offset(10) and tab.Offset(4), "both code fields are stored for codes > 0"
        out[at:at + 4] = int(new).to_bytes(4, "little")
        out[old_at] = min(new, 127)
    return bytes(out)


def patch_lstm_cell_clip(blob: bytes, clip: float) -> bytes:
    """Rewrite the cell_clip of every UNIDIRECTIONAL_SEQUENCE_LSTM in place (Keras always writes
    10, which a short sequence never reaches; a small clip makes LiteRT clip)."""
    import struct

    import tflite

    out = bytearray(blob)
    m = tflite.Model.GetRootAsModel(blob, 0)
    sg = m.Subgraphs(0)
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        if m.OperatorCodes(op.OpcodeIndex()).BuiltinCode() != \
                tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
            continue
        o = tflite.UnidirectionalSequenceLSTMOptions()
        table = op.BuiltinOptions()
        o.Init(table.Bytes, table.Pos)
        at = o._tab.Offset(6)  # cell_clip
        assert at, "Keras writes cell_clip"
        out[o._tab.Pos + at:o._tab.Pos + at + 4] = struct.pack("<f", clip)
    return bytes(out)


def movement_int8(tf):
    """Full-int8 data movement: SPLIT, SPLIT_V, UNPACK, SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND,
    BATCH_MATMUL of two activations, REDUCE_MIN, ARG_MAX; and a RELU whose output params are
    not its input's (nothing to fuse it into)."""
    w = tf.constant(np.random.default_rng(22).normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32))

    def fn(x):
        c = tf.nn.conv2d(x, w, 1, "SAME")
        a, b = tf.split(c, 2, axis=3)
        p, q, r = tf.split(c, [2, 4, 2], axis=3)
        u = tf.unstack(c, axis=1)
        s2b = tf.space_to_batch(c, [2, 2], [[0, 0], [2, 0]])
        b2s = tf.batch_to_space(tf.nn.relu(s2b), [2, 2], [[0, 0], [0, 2]])
        mm = tf.matmul(tf.reshape(a, (8, 8, 4)), tf.reshape(b, (8, 8, 4)), adjoint_b=True)
        return (a, q, r, u[1], u[6], b2s, mm, tf.reduce_min(c, axis=[1, 2]),
                tf.argmax(c, axis=3, output_type=tf.int32))
    return fn, [(1, 8, 8, 4)]


# ---------------------------------------------------------------- conversion and oracles

def _concrete(tf, model_or_fn, shapes, dynamic_batch=False):
    if shapes is None:
        shapes = [tuple(1 if d is None else d for d in t.shape) for t in model_or_fn.inputs]
        fn = tf.function(lambda *xs: model_or_fn(list(xs) if len(xs) > 1 else xs[0],
                                                 training=False))
    else:
        fn = tf.function(model_or_fn)
    specs = [tf.TensorSpec((None, *s[1:]) if dynamic_batch else s, tf.float32) for s in shapes]
    return fn.get_concrete_function(*specs), shapes


def rand_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes]


def litert_run(path, inputs, resolver="BUILTIN_REF"):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=getattr(OpResolverType, resolver))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def to_tflite(tf, concrete, mode="float", rep=None, sparse=False, trackable=None):
    """`trackable`: the keras model, for conversions that need it (fused LSTMs)."""
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], trackable)
    if mode == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif mode in ("int8", "int8_float_io"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8":  # else the converter's default: float in and out, QUANTIZE/DEQUANTIZE
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    if sparse:
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return conv.convert()


def quantize_inputs(path, inputs):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    out = []
    for d, x in zip(it.get_input_details(), inputs):
        scale, zp = d["quantization"]
        out.append(np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8))
    return out


def save_tflite(out: Path, name, tf, model_or_fn, shapes=None, mode="float", sparse=False,
                dynamic_batch=False, fused_rnn=False, patch=None):
    concrete, shapes = _concrete(tf, model_or_fn, shapes, dynamic_batch)
    rep = None
    if mode in ("int8", "int8_float_io"):
        def rep():
            for i in range(16):
                yield rand_inputs(shapes, 100 + i)
    blob = to_tflite(tf, concrete, mode, rep, sparse, model_or_fn if fused_rnn else None)
    if patch:
        blob = patch(blob)
    path = out / f"{name}.tflite"
    path.write_bytes(blob)
    inputs = rand_inputs(shapes, 7)
    arrays = {}
    if mode == "int8":
        inputs = quantize_inputs(path, inputs)
        for i, y in enumerate(litert_run(path, inputs, "BUILTIN")):
            arrays[f"expected_opt_{i}"] = y
    reference = "BUILTIN_REF" if mode.startswith("int8") else "AUTO"
    for i, y in enumerate(litert_run(path, inputs, reference)):
        arrays[f"expected_{i}"] = y
    for i, x in enumerate(inputs):
        arrays[f"input_{i}"] = x
    np.savez_compressed(out / f"{name}.npz", **arrays)
    print(f"{name}.tflite: {len(blob) / 1e3:.0f} kB")


def save_frozen_pb(out: Path, name, tf, model_or_fn, shapes=None):
    """Freeze a TF function to a GraphDef; expected outputs from TensorFlow running that
    GraphDef (tf.compat.v1 session), with the input/output names the tests pass to the loader."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete, shapes = _concrete(tf, model_or_fn, shapes)
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    in_names = [t.name.split(":")[0] for t in frozen.inputs]
    out_names = [t.name for t in frozen.outputs]
    save_graph_pb(out, name, tf, gd, in_names, out_names, shapes)


def tf_math_ops(tf):
    """TF math_ops on two inputs: unary functions, comparisons and selects, floor division,
    reductions, arg-reductions, cumulative sums, LogSoftmax and LRN (raw ops, so each one is in
    the GraphDef as written)."""
    r = tf.raw_ops

    def fn(x, y):
        pos = r.AddV2(x=r.Abs(x=x), y=0.25)
        u = [r.Exp(x=x), r.Log(x=pos), r.Floor(x=x * 3.0), r.Ceil(x=x * 3.0),
             r.Round(x=x * 4.0), r.Sin(x=x), r.Cos(x=x), r.Sign(x=x), r.Reciprocal(x=pos),
             r.Inv(x=pos), r.Rsqrt(x=pos), r.Softplus(features=x), r.Softsign(features=x),
             r.Selu(features=x), r.Erf(x=x), r.Erfc(x=x), r.Square(x=x),
             r.SquaredDifference(x=x, y=y), r.Pow(x=pos, y=y),
             r.FloorDiv(x=x * 4.0, y=y + 1.5), r.FloorMod(x=x * 4.0, y=y - 1.5),
             r.Div(x=x, y=y + 1.5),
             r.AddN(inputs=[x, y, x * y]),
             r.ClipByValue(t=x, clip_value_min=-0.3, clip_value_max=0.4),
             # scalars folded from the static shape: FloorDiv of integers, Mean, Cast
             x * tf.cast(r.FloorDiv(x=tf.shape(x)[2], y=2), tf.float32),
             x * r.Mean(input=tf.cast(tf.shape(x), tf.float32), axis=0)]
        gt, le = r.Greater(x=x, y=y), r.LessEqual(x=x, y=y)
        both = r.LogicalAnd(x=r.GreaterEqual(x=x, y=0.0), y=r.Less(x=y, y=0.2))
        either = r.LogicalOr(x=r.Equal(x=r.Round(x=x * 2.0), y=0.0),
                             y=r.LogicalNot(x=r.NotEqual(x=r.Round(x=y * 2.0), y=1.0)))
        sel = [r.SelectV2(condition=gt, t=x, e=y), r.SelectV2(condition=le, t=x, e=0.5),
               r.SelectV2(condition=both, t=y, e=x), r.SelectV2(condition=either, t=1.0, e=y),
               r.Select(condition=r.Greater(x=x[:, 0, 0, 0], y=0.0), x=x, y=y)]
        img = tf.concat(u + sel, axis=3)
        red = [r.Min(input=img, axis=[1, 2], keep_dims=False),
               r.Prod(input=img * 0.1 + 1.0, axis=[1], keep_dims=True)[:, 0, 0],
               r.Cumsum(x=img, axis=2)[:, 0, 0], r.Cumsum(x=img, axis=1, exclusive=True,
                                                       reverse=True)[:, 0, 0],
               r.LogSoftmax(logits=img[:, 0, 0])]
        lrn = r.LRN(input=img, depth_radius=2, bias=1.5, alpha=0.3, beta=0.6)
        am = tf.cast(r.ArgMax(input=img, dimension=3, output_type=tf.int32), tf.float32)
        an = tf.cast(r.ArgMin(input=img, dimension=-1), tf.float32)
        return tf.concat(red, axis=1), lrn, am + an * 100.0
    return fn, [(2, 3, 5, 4), (2, 3, 5, 4)]


def tf_array_ops(tf):
    """TF array_ops: Split, SplitV, Unpack, BatchMatMul with adjoints, GatherV2 (batch_dims 0
    and 1), GatherNd, ReverseV2, ZerosLike / OnesLike, BroadcastTo, IdentityN, Einsum, TopKV2, an
    atrous convolution as TF1 writes it (SpaceToBatchND -> Conv2D VALID -> BatchToSpaceND) and a
    SpaceToBatchND / BatchToSpaceND pair around a Relu."""
    r = tf.raw_ops

    def fn(x, m):
        a, b, c = r.Split(axis=3, value=x, num_split=3)
        p, q = r.SplitV(value=x, size_splits=[4, -1], axis=-1, num_split=2)
        rows = r.Unpack(value=x, num=4, axis=1)
        ident = r.IdentityN(input=[a, q])
        mm = r.BatchMatMulV2(x=m, y=m, adj_x=True) + r.BatchMatMulV2(x=m, y=m, adj_y=True)
        mm3 = r.BatchMatMulV3(x=m, y=r.BroadcastTo(input=m[:1], shape=[3, 5, 5]),
                              Tout=tf.float32)
        g = r.GatherV2(params=x, indices=[[2, 0], [1, 1]], axis=2)
        gb = r.GatherV2(params=x, indices=[[3, 0, 1], [2, 2, 0]], axis=1, batch_dims=1)
        gnd = r.GatherNd(params=x, indices=[[0, 1], [1, 3], [0, 0]])
        rev = r.ReverseV2(tensor=x, axis=[1, 3])
        zo = r.ZerosLike(x=a) + r.OnesLike(x=b) + c
        ein = r.Einsum(inputs=[m, m], equation="bij,bjk->bik")
        vals, idx = r.TopKV2(input=x, k=3)
        w = tf.constant(np.random.default_rng(5).normal(0, 0.3, (3, 3, 6, 4)), tf.float32)
        s2b = r.SpaceToBatchND(input=x, block_shape=[2, 2], paddings=[[2, 4], [2, 3]])
        atrous = r.BatchToSpaceND(input=r.Conv2D(input=s2b, filter=w, strides=[1, 1, 1, 1],
                                                 padding="VALID"),
                                  block_shape=[2, 2], crops=[[0, 2], [0, 1]])
        lone = r.BatchToSpaceND(input=r.Relu(features=r.SpaceToBatchND(
            input=x, block_shape=[2, 2], paddings=[[0, 0], [1, 0]])), block_shape=[2, 2],
            crops=[[0, 0], [1, 0]])  # no conv inside: written out, not folded
        flat = [tf.reshape(t, [2, -1]) for t in (b, p, rows[0], rows[3], ident[0], ident[1], g,
                                                  gb, gnd, rev, zo, vals,
                                                  tf.cast(idx, tf.float32), atrous, lone)]
        return tf.concat(flat, axis=1), tf.concat([mm, mm3, ein], axis=0)
    return fn, [(2, 4, 5, 6), (3, 5, 5)]


def tf_function_calls(tf):
    """Nested tf.functions that freezing keeps as calls, as Keras's grouped and depthwise
    convolutions are (`jit_compile`: a function bound for XLA is not inlined): a
    StatefulPartitionedCall reading a variable (a grouped convolution, GELU) called twice, and in
    its body a PartitionedCall whose results are TopKV2's values and indices (its second output
    argument, 'TopKV2:indices:0' in the body)."""
    w = tf.Variable(np.random.default_rng(31).normal(0, 0.3, (3, 3, 2, 6)).astype(np.float32))

    @tf.function(jit_compile=True)
    def top3(t):
        values, indices = tf.math.top_k(t, k=3)
        return values, tf.cast(indices, tf.float32)

    @tf.function(jit_compile=True)
    def block(t):
        y = tf.nn.gelu(tf.nn.conv2d(t, w, 1, "SAME"), approximate=False)  # 2 groups
        values, indices = top3(y)
        return tf.concat([values, indices], axis=3)

    def fn(x):
        return block(x), block(x * 0.5)[..., 1:]
    return fn, [(1, 6, 6, 4)]


def tf1_conditionals(tf):
    """A TF1 graph whose `is_training` PlaceholderWithDefault(False) picks inference or training
    branches, twice: as TF2 control flow (an If with its branch functions in the library) and as
    TF1's (Switch / Merge). The training branches hold what npucc refuses: a dropout's
    RandomUniform, FusedBatchNormV3 with is_training. Returns (GraphDef, input names, output
    names, input shapes)."""
    v1 = tf.compat.v1
    rng = np.random.default_rng(41)
    w = rng.normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32)
    scale, offset, mean, var = (rng.uniform(0.5, 1.5, 4).astype(np.float32) for _ in range(4))
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, (None, 8, 8, 3), name="x")
        training = v1.placeholder_with_default(False, (), name="is_training")
        y = tf.nn.conv2d(x, w, 1, "SAME")

        def batch_norm(train):
            return lambda: tf.raw_ops.FusedBatchNormV3(
                x=y, scale=scale, offset=offset, mean=[] if train else mean,
                variance=[] if train else var, is_training=train)[0]

        def dropout(t):
            return lambda: tf.nn.dropout(t, rate=0.5), lambda: tf.identity(t)

        v1.enable_control_flow_v2()
        a = tf.nn.relu(tf.cond(training, batch_norm(True), batch_norm(False)))
        a = tf.cond(training, *dropout(a))
        c = tf.cond(training, lambda: x * 2.0, lambda: x + 1.0)  # reads the graph's input
        v1.disable_control_flow_v2()
        try:
            b = tf.cond(training, batch_norm(True), batch_norm(False))
            b = tf.cond(training, *dropout(tf.nn.relu6(b)))
        finally:
            v1.enable_control_flow_v2()
        tf.identity(a, name="a")
        tf.identity(b, name="b")
        tf.identity(c, name="c")
    return g.as_graph_def(), ["x"], ["a:0", "b:0", "c:0"], [(1, 8, 8, 3)]


def save_graph_pb(out: Path, name, tf, gd, in_names, out_names, shapes):
    """Write a GraphDef (frozen, or built directly with constants only) and TensorFlow's outputs
    on seeded inputs."""
    (out / f"{name}.pb").write_bytes(gd.SerializeToString())
    inputs = rand_inputs(shapes, 7)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        ys = sess.run(out_names, {f"{n}:0": x for n, x in zip(in_names, inputs)})
    arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
    arrays.update({f"expected_{i}": y for i, y in enumerate(ys)})
    arrays["input_names"] = np.array(in_names)
    arrays["output_names"] = np.array(out_names)
    np.savez_compressed(out / f"{name}.npz", **arrays)
    print(f"{name}.pb: {len(gd.SerializeToString()) / 1e3:.0f} kB, inputs {in_names}, "
          f"outputs {out_names}, ops {sorted({nd.op for nd in gd.node})}")


def unsupported_op(tf):
    """A model with an op npucc does not support (ATAN2), for the error-message test."""
    def fn(x):
        return tf.nn.relu(tf.math.atan2(x, x * x + 1.0) + 1.0)
    return fn, [(1, 4)]


FIXTURES = {
    "unsupported_op": lambda o, tf: save_tflite(o, "unsupported_op", tf, *unsupported_op(tf)),
    # TFLite float (LiteRT is the oracle)
    "mobilenet_v2_float": lambda o, tf: save_tflite(o, "mobilenet_v2_float", tf, mobilenet_v2(tf)),
    "detector_float": lambda o, tf: save_tflite(o, "detector_float", tf, detector(tf)),
    "ops_zoo_float": lambda o, tf: save_tflite(o, "ops_zoo_float", tf, ops_zoo(tf)),
    "resize_float": lambda o, tf: save_tflite(o, "resize_float", tf, *tf_resize_graph(tf)),
    "small_fp16": lambda o, tf: save_tflite(o, "small_fp16", tf, small_int8_net(tf), mode="fp16"),
    # TFLite full int8 (LiteRT reference kernels are the oracle)
    "mobilenet_v2_int8": lambda o, tf: save_tflite(o, "mobilenet_v2_int8", tf, mobilenet_v2(tf),
                                                   mode="int8"),
    "small_int8": lambda o, tf: save_tflite(o, "small_int8", tf, small_int8_net(tf), mode="int8"),
    "extra_int8": lambda o, tf: save_tflite(o, "extra_int8", tf, extra_int8_net(tf), mode="int8"),
    "small_int8_float_io": lambda o, tf: save_tflite(o, "small_int8_float_io", tf,
                                                     small_int8_net(tf), mode="int8_float_io"),
    # Keras 3 with a dynamic batch: SHAPE-based reshapes, float and full int8
    "keras3_reshape_float": lambda o, tf: save_tflite(o, "keras3_reshape_float", tf,
                                                      keras3_reshapes(tf), dynamic_batch=True),
    "keras3_reshape_int8": lambda o, tf: save_tflite(o, "keras3_reshape_int8", tf,
                                                     keras3_reshapes(tf), mode="int8",
                                                     dynamic_batch=True),
    # TFLite builtin-op coverage (float, and full int8 data movement)
    "math_ops_float": lambda o, tf: save_tflite(o, "math_ops_float", tf, *math_ops(tf)),
    "logic_ops_float": lambda o, tf: save_tflite(o, "logic_ops_float", tf, *logic_ops(tf)),
    "tensor_ops_float": lambda o, tf: save_tflite(o, "tensor_ops_float", tf, *tensor_ops(tf)),
    "cond_ops_float": lambda o, tf: save_tflite(o, "cond_ops_float", tf, *cond_ops(tf)),
    "shape_ops_float": lambda o, tf: save_tflite(o, "shape_ops_float", tf, *shape_ops(tf),
                                                 dynamic_batch=True),
    "lstm_float": lambda o, tf: save_tflite(o, "lstm_float", tf, lstm_net(tf), fused_rnn=True),
    "lstm_long_float": lambda o, tf: save_tflite(o, "lstm_long_float", tf, lstm_net(tf, 12),
                                                 fused_rnn=True),
    "lstm_clip_float": lambda o, tf: save_tflite(o, "lstm_clip_float", tf, lstm_net(tf, 12),
                                                 fused_rnn=True,
                                                 patch=lambda b: patch_lstm_cell_clip(b, 0.3)),
    "patched_ops_float": lambda o, tf: save_tflite(o, "patched_ops_float", tf, *patched_ops(tf),
                                                   patch=lambda b: patch_opcodes(
                                                       b, {1: 12, 19: 152})),
    "movement_int8": lambda o, tf: save_tflite(o, "movement_int8", tf, *movement_int8(tf),
                                               mode="int8"),
    "int8_math": lambda o, tf: save_tflite(o, "int8_math", tf, *int8_math(tf), mode="int8"),
    "int8_layernorm": lambda o, tf: save_tflite(o, "int8_layernorm", tf, int8_layernorm(tf),
                                                mode="int8"),
    # TensorFlow frozen GraphDefs (TensorFlow is the oracle)
    "mobilenet_v2_pb": lambda o, tf: save_frozen_pb(o, "mobilenet_v2_pb", tf, mobilenet_v2(tf)),
    "detector_pb": lambda o, tf: save_frozen_pb(o, "detector_pb", tf, detector(tf)),
    "resize_pb": lambda o, tf: save_frozen_pb(o, "resize_pb", tf, *tf_resize_graph(tf)),
    "ops_zoo_pb": lambda o, tf: save_frozen_pb(o, "ops_zoo_pb", tf, ops_zoo(tf)),
    "math_ops_pb": lambda o, tf: save_frozen_pb(o, "math_ops_pb", tf, *tf_math_ops(tf)),
    "array_ops_pb": lambda o, tf: save_frozen_pb(o, "array_ops_pb", tf, *tf_array_ops(tf)),
    "calls_pb": lambda o, tf: save_frozen_pb(o, "calls_pb", tf, *tf_function_calls(tf)),
    "cond_pb": lambda o, tf: save_graph_pb(o, "cond_pb", tf, *tf1_conditionals(tf)),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", choices=sorted(FIXTURES))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tf = _tf()
    tf.keras.utils.set_random_seed(0)
    for name in args.only or FIXTURES:
        FIXTURES[name](args.out, tf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
