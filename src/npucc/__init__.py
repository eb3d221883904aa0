"""npucc: an open neural-network compiler for NPUs.

    import npucc
    graph = npucc.load("model.onnx")            # any supported framework, detected from the file
    model = npucc.compile(graph)                # default pass pipeline, then the simulator plan
    outputs = model.run(inputs)
"""

__version__ = "0.1.0"

from npucc.api import CompiledModel, compile, load_blob, write_blob  # noqa: E402
from npucc.frontends import load  # noqa: E402

__all__ = ["CompiledModel", "__version__", "compile", "load", "load_blob", "write_blob"]
