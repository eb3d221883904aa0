"""Caffe frontend: prototxt (+ .caffemodel) -> Graph.

    from npucc.frontends import caffe
    graph = caffe.load("deploy.prototxt")                      # weights: deploy.caffemodel beside
    graph = caffe.load("deploy.prototxt", weights="x.caffemodel", input_shapes={"data": (1, 3, 160, 160)})
    graph = caffe.load("deploy.prototxt", weights="random")    # structure only, random blobs

Every node's provenance is the Caffe layer name it comes from.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import FrontendError
from ...ir import Graph
from . import layers as _layers  # noqa: F401  (registers the mappers)
from .importer import MAPPERS, CaffemodelBlobs, Importer, RandomBlobs
from .reader import read_caffemodel, read_prototxt

__all__ = ["MAPPERS", "load", "random_blobs", "find_weights"]


def find_weights(prototxt: Path) -> Path:
    """The .caffemodel beside a prototxt: same stem, else the only .caffemodel in the folder."""
    prototxt = Path(prototxt)
    same = prototxt.with_suffix(".caffemodel")
    if same.exists():
        return same
    found = sorted(prototxt.parent.glob("*.caffemodel"))
    if len(found) == 1:
        return found[0]
    raise FrontendError(f"{prototxt}: no weights given and "
                        + (f"{len(found)} .caffemodel files beside it ({[f.name for f in found]})"
                           if found else "no .caffemodel beside it")
                        + "; pass weights='path.caffemodel' (or weights='random')")


def load(path, weights=None, *, input_shapes=None, outputs=None, seed: int = 0,
         proposal=None) -> Graph:
    """Import a Caffe net.

    weights: a .caffemodel path; None looks beside the prototxt; "random" makes random blobs
      (seeded by `seed`). input_shapes: {input name: shape} overrides the prototxt's input
      shapes. outputs: top names to expose (default: tops no layer reads). proposal: attribute
      overrides for the Proposal op of py-faster-rcnn's Python ProposalLayer (its test config
      lives in Python code, not the prototxt: pre_nms_topn, post_nms_topn, nms_thresh, min_size).
    """
    path = Path(path)
    net = read_prototxt(path)
    if isinstance(weights, str) and weights == "random":
        blobs = RandomBlobs(seed)
    else:
        wpath = Path(weights) if weights is not None else find_weights(path)
        blobs = CaffemodelBlobs(read_caffemodel(wpath), wpath)
    options = {"proposal": dict(proposal or {})}
    return Importer(net, path, blobs, input_shapes, **options).run(outputs)


def random_blobs(path, *, seed: int = 0, input_shapes=None) -> dict:
    """Random blobs of the shapes the prototxt implies, by layer name (to write a test
    .caffemodel)."""
    path = Path(path)
    blobs = RandomBlobs(seed)
    Importer(read_prototxt(path), path, blobs, input_shapes).run()
    return blobs.recorded
