"""The order C++'s std::partial_sort leaves equal values in, as libstdc++ computes it.

std::partial_sort is not stable: where values tie, the order is whatever its heap operations
leave, which the C++ standard does not fix. TFLite's DetectionPostProcess ranks each box's
classes with it, so matching LiteRT on tied scores (common in uint8 models) means replaying the
library's algorithm: libstdc++'s __heap_select (a max-heap of the first k under the comparison,
each later element that beats its top replacing the top) followed by __sort_heap, with its
__adjust_heap / __push_heap exactly as written there. LiteRT's Linux wheels are built on
libstdc++; a build on another C++ library (libc++ on Android) may order ties otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence


def partial_sort_descending(values: Sequence[float], k: int) -> list[int]:
    """Indices 0..n-1 after std::partial_sort(first, first + k, last, comp), run on the
    indices with comp(i, j) = values[i] > values[j]: the first k are the k largest values in
    descending order, ties in libstdc++'s order."""
    idx = list(range(len(values)))
    k = min(k, len(idx))

    def before(i, j):  # comp on the indices
        return values[i] > values[j]

    def push_heap(hole, top, value):
        parent = (hole - 1) // 2
        while hole > top and before(idx[parent], value):
            idx[hole] = idx[parent]
            hole = parent
            parent = (hole - 1) // 2
        idx[hole] = value

    def adjust_heap(hole, length, value):
        top = child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if before(idx[child], idx[child - 1]):
                child -= 1
            idx[hole] = idx[child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            idx[hole] = idx[child - 1]
            hole = child - 1
        push_heap(hole, top, value)

    def pop_heap(length, result):  # the heap is idx[:length]; its top goes to idx[result]
        value = idx[result]
        idx[result] = idx[0]
        adjust_heap(0, length, value)

    for parent in range((k - 2) // 2, -1, -1):  # make_heap(first, middle)
        adjust_heap(parent, k, idx[parent])
    for i in range(k, len(idx)):
        if before(idx[i], idx[0]):
            pop_heap(k, i)
    for length in range(k - 1, 0, -1):  # sort_heap(first, middle)
        pop_heap(length, length)
    return idx
