"""Function calls in a frozen GraphDef, inlined before import.

`convert_variables_to_constants_v2` keeps a nested tf.function as a PartitionedCall /
StatefulPartitionedCall node whose body is a FunctionDef of the GraphDef's library: Keras writes
its grouped and depthwise convolutions so (ConvNeXt, RegNet: `_jit_compiled_convolution_op`,
`_conv_xla`). Each call node becomes its body's nodes, named `<call>/<body node>`, plus an
IdentityN named as the call, whose outputs are the function's results, so readers of `call:i`
are unchanged.
"""

from __future__ import annotations

from ...errors import FrontendError
from ..tfproto import node_def_pb2

CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
MAX_DEPTH = 32  # calls nested deeper than this are taken for a recursion
MAX_NODES = 1_000_000  # nodes the inlined bodies may add, all calls together

# A FunctionDef names a node's output `node:arg:k` (output argument `arg`, its k-th tensor). The
# supported ops with several output arguments, in order; every other one has a single argument
# (a list for Split, Unpack, IdentityN...), so its k-th tensor is output k.
_BN_OUTPUTS = ("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2")
OUTPUT_ARGS = {"FusedBatchNorm": _BN_OUTPUTS, "FusedBatchNormV2": _BN_OUTPUTS,
               "FusedBatchNormV3": _BN_OUTPUTS + ("reserve_space_3",),
               "TopKV2": ("values", "indices")}


def inline_calls(nodes: list, functions: dict, label: str) -> list:
    """`nodes` (NodeDefs) with every call of a library function ({name: FunctionDef}) replaced
    by its body; a call of a function the library does not hold stays (its converter says so if
    it is imported)."""
    if not functions or not any(nd.op in CALL_OPS for nd in nodes):
        return nodes
    taken = {nd.name for nd in nodes}
    out: list = []
    work = [(nd, 0) for nd in reversed(nodes)]
    while work:
        nd, depth = work.pop()
        fn = functions.get(nd.attr["f"].func.name) if nd.op in CALL_OPS and "f" in nd.attr \
            else None
        if fn is None:
            out.append(nd)
            continue
        if depth >= MAX_DEPTH:
            raise FrontendError(f"{label}: node '{nd.name}' ({nd.op}): function calls nested "
                                f"more than {MAX_DEPTH} deep (a recursive function?)")
        body = _expand(nd, fn, taken, label)
        if len(taken) > MAX_NODES + len(nodes):
            raise FrontendError(f"{label}: inlining the function calls makes more than "
                                f"{MAX_NODES} nodes")
        work.extend((b, depth + 1) for b in reversed(body))
    return out


def _expand(call, fn, taken: set, label: str) -> list:
    """The NodeDefs that replace `call`: fn's body renamed under the call, then the IdentityN."""
    where = f"{label}: node '{call.name}' ({call.op}) calling function '{fn.signature.name}'"
    data = [i for i in call.input if not i.startswith("^")]
    body, results = function_body(fn, data, call.name, taken, where)
    identity = node_def_pb2.NodeDef(name=call.name, op="IdentityN", input=results)
    if "Tout" in call.attr:
        identity.attr["T"].CopyFrom(call.attr["Tout"])
    return body + [identity]


def function_body(fn, args_in: list[str], prefix: str, taken: set, where: str):
    """fn's body as NodeDefs named `<prefix>/<node>` (a name in `taken` gets a '_' more; the
    new names join it), reading the tensors `args_in` for its arguments; and the tensor names of
    its results. `where` starts the error messages."""
    args = [a.name for a in fn.signature.input_arg]
    if len(args_in) != len(args):
        raise FrontendError(f"{where}: it passes {len(args_in)} inputs to {len(args)} "
                            "arguments")
    names = {}
    for b in fn.node_def:
        name = f"{prefix}/{b.name}"
        while name in taken:
            name += "_"
        taken.add(name)
        names[b.name] = name
    ops = {b.name: b.op for b in fn.node_def}
    argmap = dict(zip(args, args_in))

    def tensor(ref: str) -> str:
        """A body reference (`arg` or `node:output_arg:k`) as a graph tensor name."""
        parts = ref.split(":")
        if len(parts) == 1 and ref in argmap:
            return argmap[ref]
        if len(parts) == 3 and parts[0] in names and parts[2].isdigit():
            k = int(parts[2])
            arg_names = OUTPUT_ARGS.get(ops[parts[0]])
            if arg_names is not None:
                if parts[1] not in arg_names:
                    raise FrontendError(f"{where}: '{ref}' names no output of "
                                        f"{ops[parts[0]]}")
                k += arg_names.index(parts[1])
            return f"{names[parts[0]]}:{k}"
        raise FrontendError(f"{where}: its body reads '{ref}', which is neither an argument "
                            "nor a node output of the function")

    body = []
    for b in fn.node_def:
        nd = node_def_pb2.NodeDef()
        nd.CopyFrom(b)
        nd.name = names[b.name]
        del nd.input[:]
        nd.input.extend(tensor(i) for i in b.input if not i.startswith("^"))
        body.append(nd)
    results = []
    for o in fn.signature.output_arg:
        if o.name not in fn.ret:
            raise FrontendError(f"{where}: result '{o.name}' is not returned")
        results.append(tensor(fn.ret[o.name]))
    return body, results
