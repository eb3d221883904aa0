"""npucc.atomic: a write either replaces the file whole or leaves it as it was, no temp file
behind; files are readable by others (0644, not mkstemp's 0600)."""

import os

import pytest

from npucc.atomic import open_atomic, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "model.npub"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), open_atomic(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npub"]


def test_text_and_bytes_are_written_whole_and_readable_by_others(tmp_path):
    write_atomic(tmp_path / "a.txt", "héllo\n")
    write_atomic(tmp_path / "b.bin", b"\x00\x01", fsync=False)
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("a.txt", "b.bin")} == {0o644}
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin"]
