"""Data files that lie (issue "hostile and careless input", item 4): what the loaders allocate is
bounded by the data actually present, and every refusal names the defect."""
import gzip
import tracemalloc

import numpy as np
import pytest

from symcorr.experiments import datasets
from symcorr.experiments.datasets import Dataset, IDXFormatError, load_idx_directory, parse_idx, read_idx, write_idx


def _header(type_code, shape):
    return bytes([0, 0, type_code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def _peak_bytes(function, *args):
    tracemalloc.start()
    try:
        try:
            function(*args)
        except (IDXFormatError, ValueError, MemoryError) as error:
            outcome = error
        else:  # pragma: no cover - every caller expects a refusal
            outcome = None
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


def _mnist_dir(directory, train_labels, test_labels, label_dtype=np.int32):
    rng = np.random.default_rng(0)
    write_idx(directory / "train-images-idx3-ubyte", rng.integers(0, 256, (len(train_labels), 2, 2), dtype=np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte", np.asarray(train_labels, dtype=label_dtype))
    write_idx(directory / "t10k-images-idx3-ubyte", rng.integers(0, 256, (len(test_labels), 2, 2), dtype=np.uint8))
    write_idx(directory / "t10k-labels-idx1-ubyte", np.asarray(test_labels, dtype=label_dtype))


@pytest.mark.parametrize("labels, names", [
    ([2**31 - 1], ("2147483647",)),  # built 2**31 class names (7.8 GB) before
    ([10**6, 10**6], ("1000000",)),  # made `reproduce mnist` segfault before
    ([3, 10**6, 3], ("3", "1000000")),
])
def test_labels_give_as_many_classes_as_there_are_distinct_labels(tmp_path, labels, names):
    _mnist_dir(tmp_path, labels, labels[:1])
    assert (tmp_path / "train-labels-idx1-ubyte").stat().st_size < 1024
    data = load_idx_directory(tmp_path)
    assert data.n_classes == len(names) and data.class_names == names
    assert [data.class_names[y] for y in data.y_train] == [str(v) for v in labels]


def test_a_gzip_whose_header_claims_more_than_it_can_hold_is_refused_before_decompressing(tmp_path):
    # 64 GiB claimed; the file holds 1 MiB of zeros in ~1 KB (the 1.1 MB gzip asked for 8.8 GiB)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_header(0x08, (2**16, 2**16, 16)) + bytes(2**20)))
    peak, error = _peak_bytes(read_idx, path)
    assert isinstance(error, IDXFormatError), error
    assert "claims 68719476752 bytes, more than a gzip file of" in str(error)
    assert "deflate expands at most 1032-fold" in str(error)
    assert peak < 2**20


def test_no_more_than_the_header_claims_is_decompressed(tmp_path):
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(_header(0x08, (10,)) + bytes(50 * 2**20)))  # 50 MiB behind a 10-byte claim
    peak, error = _peak_bytes(read_idx, path)
    assert isinstance(error, IDXFormatError) and "IDX data has more than 10 bytes" in str(error)
    assert "trailing bytes" in str(error)
    assert peak < 4 * 2**20


def test_dimensions_whose_product_overflows_int64_are_named_not_reshaped(tmp_path):
    raw = _header(0x08, (2**32 - 1,) * 3) + bytes(8)
    needs = str((2**32 - 1) ** 3)  # 79228162458924105385300197375, beyond int64
    with pytest.raises(IDXFormatError, match=f"needs {needs} \\(file truncated\\?\\)"):
        parse_idx(raw, "x.idx")
    path = tmp_path / "x.idx"
    path.write_bytes(raw)
    with pytest.raises(IDXFormatError, match=f"IDX data has 8 bytes, header shape .* needs {needs}"):
        read_idx(path)


def test_an_allocation_beyond_the_available_memory_is_refused_first(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "x.idx", np.zeros((64, 64), dtype=np.uint8))
    monkeypatch.setattr(datasets, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=r"reading .*x.idx \(shape \(64, 64\) of uint8\) needs .* GiB, more than"):
        read_idx(path)


def test_float_labels_are_refused(tmp_path):
    _mnist_dir(tmp_path, [0.0, 1.0], [0.0], label_dtype=np.float32)
    with pytest.raises(IDXFormatError, match="labels must be integers, got float32"):
        load_idx_directory(tmp_path)


def test_datasets_built_by_hand_are_checked():
    X, y = np.zeros((3, 4)), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="labels must be 0..K-1 with every class present .* got 1 distinct "
                                         "label\\(s\\) up to 2147483646: renumber them"):
        Dataset("hand", X[:1], np.array([2**31 - 2]), X[:1], np.array([2**31 - 2]), (2, 2))
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="train image 1 holds nan at pixel 2; images must be finite"):
        Dataset("hand", bad, y, X, y, (2, 2))
    with pytest.raises(ValueError, match="labels must be integers"):
        Dataset("hand", X, y.astype(float), X, y, (2, 2))
    with pytest.raises(ValueError, match="label 2 has no class name \\(2 names\\)"):
        Dataset("hand", X, np.array([0, 1, 2]), X, y, (2, 2), ("a", "b"))
    # a subset may lack a class: the class names keep the count
    data = Dataset("hand", X, y, X, y, (2, 2), ("a", "b", "c"))
    assert data.n_classes == 3
