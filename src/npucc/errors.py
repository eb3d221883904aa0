"""Exception types. Every error a user can see is an NpuccError with a message they can act on."""


class NpuccError(Exception):
    """Base class of every error npucc raises on purpose."""


class IRError(NpuccError):
    """The IR was used against its contract (bad type, unknown op, bad attribute...)."""


class VerificationError(IRError):
    """A graph failed verification. `problems` lists every problem found, one message each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("graph verification failed:\n  " + "\n  ".join(self.problems))


class ParseError(IRError):
    """Text IR could not be parsed; the message names the line and column."""


class PassError(NpuccError):
    """A pass failed or broke the graph; the message names the pass and the passes before it."""


class FrontendError(NpuccError):
    """A model file could not be imported; the message names the file, node and op."""


def reworded(e: NpuccError, message: str) -> NpuccError:
    """`e` with a new message: the same class and attributes (a FrontendError when the class
    takes other constructor arguments), for layers that add the file or layer to a message."""
    try:
        out = type(e)(message)
    except TypeError:
        return FrontendError(message)
    out.__dict__.update(e.__dict__)
    return out


class MissingShapeError(FrontendError):
    """An input's shape is not (fully) in the model file. The message ends with "; give ...",
    how `npucc.load` takes the shape (input_shapes=); an API with other argument names (the
    RKNN facade's input_size_list) replaces that part. `input_name` names the input."""

    def __init__(self, message: str, input_name: str | None = None):
        super().__init__(message)
        self.input_name = input_name


class UnsupportedError(FrontendError):
    """A model uses an op, attribute value or data type that npucc declares unsupported."""


class InternalFrontendError(FrontendError):
    """A frontend failed on a model file in a way it does not check for: a bug in npucc. Raised
    by the load entry points' safety net so the error still names the file (the original
    exception is its __cause__); the fuzz tests count it as a failure."""


class LimitError(NpuccError):
    """A declared size exceeds a limit of npucc.limits (the message names the tensor)."""


class TargetError(NpuccError):
    """A target description is invalid or unknown; the message names the file and the key."""


class BlobError(NpuccError):
    """An .npub blob could not be written or read (truncated, corrupted, tampered with, built for
    another format version or target); the message names the file."""
