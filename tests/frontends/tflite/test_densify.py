"""DENSIFY's sparse-format metadata come from the model file: a CSR level whose indices point
outside its dimension (negative ones would wrap silently in numpy), segments past the stored
values, a traversal order that is not a permutation, or a dense size that disagrees with the shape
is refused with a conversion error, never an IndexError or a silently wrong weight.

The metadata are given as plain objects with the accessors the flatbuffer tables have; the
valid case is checked against numpy's own dense matrix, so the walk itself is tested too."""

from __future__ import annotations

import numpy as np
import pytest
import tflite

from npucc.frontends.builder import ConversionError
from npucc.frontends.tflite import quantized

DENSE, CSR = tflite.DimensionType.DENSE, tflite.DimensionType.SPARSE_CSR


class _Dim:
    def __init__(self, fmt, size=0, segments=(), indices=()):
        self.fmt, self.size, self.segments, self.indices = fmt, size, list(segments), list(indices)

    def Format(self):  # noqa: N802 - the flatbuffer accessor's name
        return self.fmt

    def DenseSize(self):  # noqa: N802
        return self.size


class _Sparsity:
    def __init__(self, order, dims, block_map=()):
        self.order, self.dims, self.block_map = list(order), dims, list(block_map)

    def TraversalOrderLength(self):  # noqa: N802
        return len(self.order)

    def TraversalOrderAsNumpy(self):  # noqa: N802
        return np.array(self.order, np.int32)

    def BlockMapLength(self):  # noqa: N802
        return len(self.block_map)

    def BlockMapAsNumpy(self):  # noqa: N802
        return np.array(self.block_map, np.int32)

    def DimMetadataLength(self):  # noqa: N802
        return len(self.dims)

    def DimMetadata(self, i):  # noqa: N802
        return self.dims[i]


@pytest.fixture(autouse=True)
def _plain_index_vectors(monkeypatch):
    monkeypatch.setattr(quantized, "_index_vector",
                        lambda dm, which: dm.segments if which == "segments" else dm.indices)


# a 3x4 matrix in CSR: row 0 -> cols 1, 3; row 1 -> none; row 2 -> col 0
MATRIX = np.array([[0, 5, 0, 6], [0, 0, 0, 0], [7, 0, 0, 0]], np.float32)
VALUES = np.array([5, 6, 7], np.float32)


def _csr(segments=(0, 2, 2, 3), indices=(1, 3, 0), rows=3, order=(0, 1)):
    return _Sparsity(order, [_Dim(DENSE, rows), _Dim(CSR, segments=segments, indices=indices)])


def test_a_valid_csr_matrix_densifies_to_the_matrix():
    np.testing.assert_array_equal(quantized.densify_array(VALUES, (3, 4), _csr()), MATRIX)


@pytest.mark.parametrize("sparsity, message", [
    (_csr(indices=(1, -1, 0)), "indices"),                     # would wrap to column 3
    (_csr(indices=(1, 4, 0)), "indices"),                      # past the 4 columns
    (_csr(segments=(0, 2, 2, 9)), "segments"),                 # more entries than indices
    (_csr(segments=(0, 2, 1, 3)), "segments"),                 # decreasing
    (_csr(segments=(0, 2), indices=(1, 3)), "segment 1 is addressed"),  # rows 1, 2 lack them
    (_csr(rows=7), "dense size 7"),                            # disagrees with the shape
    (_csr(order=(0, 0)), "traversal order"),
    (_csr(order=(0, 5)), "traversal order"),
])
def test_inconsistent_metadata_are_refused(sparsity, message):
    with pytest.raises(ConversionError, match=f"sparsity: .*{message}"):
        quantized.densify_array(VALUES, (3, 4), sparsity)


def test_metadata_addressing_more_values_than_stored_are_refused():
    with pytest.raises(ConversionError, match="address value 2 of 2 stored"):
        quantized.densify_array(VALUES[:2], (3, 4), _csr())
