"""RKNN-Toolkit's Python API on npucc: an RKNN-Toolkit (v1 or v2) script runs after changing its
import line to `from npucc.rknn import RKNN`, an RKNN-Toolkit-Lite script (on-board inference)
after changing `from rknnlite.api import RKNNLite` to `from npucc.rknn import RKNNLite`. See
`npucc.rknn.api`."""

from .api import RKNN, RKNNLite
from .log import RknnError

__all__ = ["RKNN", "RKNNLite", "RknnError"]
