"""Data loaders of the MNIST-like reproduction: IDX files (plain and gzipped) and scikit-learn digits."""
import gzip

import numpy as np
import pytest

from symcorr.experiments.datasets import (
    FASHION_MNIST_DEBIAN,
    Dataset,
    IDXFormatError,
    find_idx_files,
    load_dataset,
    load_digits,
    load_idx_directory,
    parse_idx,
    read_idx,
    write_idx,
)


def _images(n, rows=4, cols=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def _labels(n, classes=3, seed=1):
    labels = np.arange(n, dtype=np.uint8) % classes
    np.random.default_rng(seed).shuffle(labels)
    return labels


def _write_mnist_dir(directory, n_train=12, n_test=6, gz=True, dotted=False):
    suffix = ".gz" if gz else ""
    sep = "." if dotted else "-"
    train_x, train_y = _images(n_train, seed=0), _labels(n_train, seed=1)
    test_x, test_y = _images(n_test, seed=2), _labels(n_test, seed=3)
    write_idx(directory / f"train-images{sep}idx3-ubyte{suffix}", train_x)
    write_idx(directory / f"train-labels{sep}idx1-ubyte{suffix}", train_y)
    write_idx(directory / f"t10k-images{sep}idx3-ubyte{suffix}", test_x)
    write_idx(directory / f"t10k-labels{sep}idx1-ubyte{suffix}", test_y)
    return train_x, train_y, test_x, test_y


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
def test_idx_round_trip_every_element_type(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if np.dtype(dtype).kind == "u":
        array = np.arange(30, dtype=dtype).reshape(2, 3, 5)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.shape == array.shape and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_idx_header_layout_is_big_endian():
    raw = bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2]) + np.array([258, -2], dtype=">i2").tobytes()
    np.testing.assert_array_equal(parse_idx(raw), [[258, -2]])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "plain-name-idx1-ubyte"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])))
    np.testing.assert_array_equal(read_idx(path), [7, 8, 9])


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00", "too short for an IDX header"),
    (bytes([1, 2, 8, 1, 0, 0, 0, 1, 5]), "wrong IDX magic number 01020801"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]), "unknown IDX element type 0x42"),
    (bytes([0, 0, 8, 0]), "declares 0 dimensions"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), r"IDX data has 2 bytes, header shape \(4,\) of uint8 needs 4 \(file truncated\?\)"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "trailing bytes"),
])
def test_malformed_idx_is_refused_with_the_defect_named(raw, message):
    with pytest.raises(IDXFormatError, match=message):
        parse_idx(raw, "x.idx")


def test_corrupt_gzip_and_missing_file(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 5]))[:-6])
    with pytest.raises(IDXFormatError, match="gzip data is corrupt or truncated"):
        read_idx(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (False, True), (True, True)])
def test_mnist_directory_loads_and_scales(tmp_path, gz, dotted):
    train_x, train_y, test_x, test_y = _write_mnist_dir(tmp_path, gz=gz, dotted=dotted)
    data = load_idx_directory(tmp_path, name="tiny")
    assert isinstance(data, Dataset)
    assert data.X_train.shape == (12, 12) and data.X_test.shape == (6, 12) and data.image_shape == (4, 3)
    assert data.X_train.dtype == np.float64
    np.testing.assert_allclose(data.X_train, train_x.reshape(12, -1) / 255.0)
    np.testing.assert_array_equal(data.y_test, test_y)
    assert data.n_classes == 3 and data.class_names == ("0", "1", "2")


def test_fashion_class_names_from_the_directory_name(tmp_path):
    directory = tmp_path / "fashion-mnist"
    directory.mkdir()
    _write_mnist_dir(directory)
    assert load_idx_directory(directory).class_names[:2] == ("T-shirt/top", "Trouser")


def test_missing_parts_and_directory_are_named(tmp_path):
    _write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks IDX file.*t10k-labels-idx1-ubyte.gz"):
        find_idx_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; pass --data"):
        load_dataset(tmp_path / "absent")


def test_image_and_label_counts_must_match(tmp_path):
    _write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", _labels(11))
    with pytest.raises(IDXFormatError, match="holds 12 images but train-labels-idx1-ubyte.gz 11 labels"):
        load_idx_directory(tmp_path)


def test_labels_must_be_one_dimensional(tmp_path):
    _write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", _images(6))
    with pytest.raises(IDXFormatError, match="labels need 1 dimension"):
        load_idx_directory(tmp_path)


def test_digits_split_is_stratified_and_deterministic():
    data = load_dataset("digits")
    assert data.name == "digits" and data.dim == 64 and data.n_classes == 10 and data.image_shape == (8, 8)
    assert data.X_train.shape[0] + data.X_test.shape[0] == 1797
    assert 0.0 <= data.X_train.min() and data.X_train.max() == 1.0
    test_share = np.bincount(data.y_test) / np.bincount(np.concatenate([data.y_train, data.y_test]))
    assert np.all(np.abs(test_share - 0.25) < 0.02)
    again = load_digits()
    np.testing.assert_array_equal(again.y_test, data.y_test)


def test_subset_keeps_class_proportions():
    data = load_digits().subset(500, 100, seed=3)
    assert data.X_train.shape == (500, 64) and data.X_test.shape == (100, 64)
    assert np.bincount(data.y_test, minlength=10).min() >= 9


@pytest.mark.skipif(not FASHION_MNIST_DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist():
    data = load_dataset("fashion")
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert data.image_shape == (28, 28) and data.n_classes == 10
    assert np.all(np.bincount(data.y_train) == 6000)
    assert data.class_names[9] == "Ankle boot"
