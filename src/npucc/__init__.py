"""npucc: an open neural-network compiler for NPUs.

    import npucc
    graph = npucc.load("model.onnx")            # any supported framework, detected from the file
    model = npucc.compile(graph)                # default pass pipeline, then the simulator plan
    outputs = model.run(inputs)
    outputs = npucc.run_graph(graph, inputs)    # the reference interpreter (any numerics)
"""

__version__ = "0.1.0"

from npucc.api import CompiledModel, compile, load_blob, perf, write_blob  # noqa: E402
from npucc.frontends import load  # noqa: E402
from npucc.numerics import run_graph  # noqa: E402
from npucc.targets import get_target, legalize  # noqa: E402

__all__ = ["CompiledModel", "__version__", "compile", "get_target", "legalize", "load", "load_blob",
           "perf", "run_graph", "write_blob"]
