"""RKNN-Toolkit's Python API on npucc: an RKNN-Toolkit (v1 or v2) script runs after changing its
import line to `from npucc.rknn import RKNN`. See `npucc.rknn.api`."""

from .api import RKNN
from .log import RknnError

__all__ = ["RKNN", "RknnError"]
