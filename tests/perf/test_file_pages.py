"""Releasing a mapped checkpoint's read pages from the process's resident set (imagelens.models.memory)."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from imagelens.models.memory import _file_mappings, release_clean_file_pages

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/smaps").is_file(), reason="reads the process's mappings (Linux)"
)

SIZE = 8 << 20


def _resident_kb(path: Path) -> int:
    """Rss of this process's mappings of ``path`` (kB)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
            inside = len(head) == 6 and head[5] == str(path)
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def _write(folder: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).integers(0, 255, SIZE, dtype=np.uint8)
    path = folder / "weights.bin"
    path.write_bytes(data.tobytes())
    return path.resolve(), data


def test_read_pages_of_a_mapped_file_are_released_and_read_back_unchanged(tmp_path: Path) -> None:
    path, data = _write(tmp_path)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = np.frombuffer(mapped, dtype=np.uint8)
        assert int(view.sum(dtype=np.int64)) == int(data.sum(dtype=np.int64))  # every page read
        assert _resident_kb(path) >= SIZE // 1024 - 4  # the control: the pages count in the RSS
        assert release_clean_file_pages(tmp_path) >= SIZE
        assert _resident_kb(path) < SIZE // 1024 // 4
        np.testing.assert_array_equal(view, data)  # faulted back in from the file
        del view


def test_a_mapping_with_a_written_page_is_left_alone(tmp_path: Path) -> None:
    path, data = _write(tmp_path)
    with path.open("r+b") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) as mapped:
        view = np.frombuffer(mapped, dtype=np.uint8)
        view[123] = data[123] ^ 0xFF  # a copy-on-write change that exists only in this process
        assert [
            changed for _, _, changed in _file_mappings(Path("/proc/self/smaps").read_text(), str(tmp_path))
        ] != [0]
        assert release_clean_file_pages(tmp_path) == 0
        assert view[123] == data[123] ^ 0xFF  # the change survived
        del view


def test_files_outside_the_folder_are_not_touched(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    path, data = _write(tmp_path / "a")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = np.frombuffer(mapped, dtype=np.uint8)
        view.sum(dtype=np.int64)
        assert release_clean_file_pages(tmp_path / "b") == 0
        assert release_clean_file_pages(tmp_path / "a"[:0] / "aa") == 0  # a name that only starts like it
        assert _resident_kb(path) >= SIZE // 1024 - 4
        del view


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def test_free_heap_memory_goes_back_to_the_os() -> None:
    from imagelens.models.memory import cap_mmap_threshold, release_free_heap

    cap_mmap_threshold(16)  # as the hub and the server set it: 1 MiB blocks come from the heap
    blocks = [bytearray(1 << 20) for _ in range(400)]
    held = _rss_mb()
    kept = blocks[
        1::2
    ]  # every other block lives on: the freed ones are holes inside the heap, not a top to trim
    del blocks
    if _rss_mb() < held - 150:
        pytest.skip("this allocator returned the holes by itself")
    assert release_free_heap()
    assert _rss_mb() < held - 150
    del kept
