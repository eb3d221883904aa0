"""npucc.npyio reads untrusted .npy / .npz bytes: what the header declares is checked against the
limits and the file before numpy allocates, pickles are refused, and every failure is a
ValueError (callers turn it into an error naming the file); well-formed files load as numpy's
own np.load does."""

import io
import re
import struct
import zipfile

import numpy as np
import pytest

from npucc.npyio import npy_from_bytes, npz_from_bytes


def npy_bytes(a: np.ndarray, **kw) -> bytes:
    f = io.BytesIO()
    np.save(f, a, **kw)
    return f.getvalue()


def forged(shape, descr="<f4", data=b"\0" * 16) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


@pytest.mark.parametrize("a", [np.arange(12, dtype=np.float32).reshape(3, 4),
                               np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
                               np.zeros((0, 5), np.uint8), np.float64(2.5)])
def test_well_formed_arrays_load_as_numpy_loads_them(a):
    got = npy_from_bytes(npy_bytes(a))
    np.testing.assert_array_equal(got, np.load(io.BytesIO(npy_bytes(a))))
    assert got.dtype == a.dtype and got.shape == np.shape(a)


@pytest.mark.parametrize("data, message", [
    (forged((10 ** 11,)), "over the 4294967296-byte limit"),  # would allocate 373 GiB
    (forged((1, 3, 224, 224)), r"declares \[1, 3, 224, 224\] float32 \(602112 bytes\), the file "
                               "holds 16 bytes"),
    (npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True), "Python objects"),
    (b"PK\x03\x04 not an npy", "NUMPY magic"),
])
def test_hostile_npy_is_refused_before_allocating(data, message):
    with pytest.raises(ValueError, match=message):
        npy_from_bytes(data)


def test_npz_members_are_read_one_by_one_and_checked():
    f = io.BytesIO()
    np.savez(f, x=np.ones((2, 3), np.float32), names=np.array(["a", "b"]))
    got = npz_from_bytes(f.getvalue())
    assert sorted(got) == ["names", "x"] and got["x"].shape == (2, 3)
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x.npy", forged((10 ** 11,)))
    with pytest.raises(ValueError, match="over the 4294967296-byte limit"):
        npz_from_bytes(bad.getvalue())
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        npz_from_bytes(b"PK\x03\x04" + b"\xff" * 40)


@pytest.mark.parametrize("data, message", [
    (forged("(1, 2"), "malformed .npy header"),  # tokenize.TokenError inside numpy
    (forged("(2,)", descr="|V4", data=b"\0" * 8), "dtype |V4"),
    (forged("(2,)", descr="<M8[s]"), "dtype datetime64"),
    (npy_bytes(np.zeros(2, [("a", "<f4"), ("b", "<i4")])), "dtype"),
])
def test_malformed_headers_and_non_numeric_dtypes_are_value_errors(data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        npy_from_bytes(data)


def test_read_npy_refuses_files_that_never_end_or_are_over_the_limit(tmp_path, monkeypatch):
    """/dev/zero or a FIFO would be read forever; a file bigger than any array could be is
    refused from its size, before its bytes are read."""
    import os

    from npucc import limits
    from npucc.npyio import read_npy

    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo):
        with pytest.raises(ValueError, match="not a regular file"):
            read_npy(path)
    big = tmp_path / "big.npy"
    big.write_bytes(npy_bytes(np.zeros(1 << 17, np.uint8)))
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 1000)
    with pytest.raises(ValueError, match=r"131200 bytes, over the limit of 66536"):
        read_npy(big)
