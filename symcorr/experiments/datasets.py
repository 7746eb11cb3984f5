r"""Image classification data for the MNIST-like reproduction (issue 6).

Two sources, both local (nothing is downloaded at run time):

* IDX files, the format of MNIST and Fashion-MNIST (:func:`read_idx`,
  :func:`load_idx_directory`). Debian's package ``dataset-fashion-mnist``
  installs Fashion-MNIST in :data:`FASHION_MNIST_DEBIAN` as gzipped IDX files;
  the original MNIST is read from wherever a user keeps it.
* scikit-learn's 8x8 handwritten digits (:func:`load_digits`), shipped inside
  scikit-learn, the quick default.

The IDX format (big-endian throughout)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 d bytes   the d dimensions as uint32
    rest        the elements in C order

Files are read whole; gzip is recognised by its magic bytes (``1f 8b``), not
by the file name.

:class:`Dataset` holds flattened images as float64 in ``[0, 1]`` (pixel / max
pixel value) and integer labels; the preprocessing that feeds a network
(centering, scaling) belongs to the experiment (:mod:`symcorr.experiments.mnist`).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Where Debian's ``dataset-fashion-mnist`` puts the four gzipped IDX files.
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: File name stems of the four parts, in the spellings MNIST mirrors use
#: (``train-images-idx3-ubyte`` and ``train-images.idx3-ubyte``), each with or
#: without ``.gz``.
IDX_PARTS = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (the message says what is wrong)."""


@dataclass
class Dataset:
    """A classification data set with a train/test split.

    ``X_*`` have shape ``(n, d)`` (flattened images, float64 in [0, 1]),
    ``y_*`` shape ``(n,)`` (int64 labels ``0..n_classes-1``).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self):
        for part in ("train", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{self.name}: {part} images {X.shape} and labels {y.shape} do not match"
                )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"{self.name}: train and test images differ in size")
        if int(np.prod(self.image_shape)) != self.X_train.shape[1]:
            raise ValueError(f"{self.name}: image shape {self.image_shape} does not match {self.X_train.shape[1]} pixels")
        if not self.class_names:
            self.class_names = tuple(str(c) for c in range(self.n_classes))

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def dim(self) -> int:
        return int(self.X_train.shape[1])

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> "Dataset":
        """A stratified random subset (``None`` keeps a part whole); deterministic in ``seed``."""
        rng = np.random.default_rng(seed)
        parts = {}
        for part, n in (("train", n_train), ("test", n_test)):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if n is not None and n < len(y):
                index = _stratified_indices(y, n, rng)
                X, y = X[index], y[index]
            parts[part] = (X, y)
        return Dataset(self.name, *parts["train"], *parts["test"], self.image_shape, self.class_names)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}, "
                f"classes={self.n_classes})")


def _stratified_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices with class proportions as in ``y`` (largest remainders), sorted."""
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n / len(y)
    take = np.floor(quota).astype(int)
    for k in np.argsort(-(quota - take))[: n - take.sum()]:
        take[k] += 1
    chosen = [rng.choice(np.flatnonzero(y == c), size=t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


# -- IDX -------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise IDXFormatError(f"{path}: gzip data is corrupt or truncated ({error})") from None
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (see the module docstring) into an array.

    The result has the file's dimensions and the native-endian version of its
    element type. Raises :class:`IDXFormatError` naming ``name`` and the defect.
    """
    if len(raw) < 4:
        raise IDXFormatError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(
            f"{name}: wrong IDX magic number {raw[:4].hex()} (must start with 0000, "
            "e.g. 00000803 for images, 00000801 for labels)"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise IDXFormatError(
            f"{name}: unknown IDX element type 0x{type_code:02x} "
            f"(known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})"
        )
    if ndim == 0:
        raise IDXFormatError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{name}: truncated IDX header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header
    if payload != expected:
        raise IDXFormatError(
            f"{name}: IDX data has {payload} bytes, header shape {shape} of {dtype.name} needs {expected}"
            + (" (file truncated?)" if payload < expected else " (trailing bytes)")
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read one IDX file, gzipped or not. See :func:`parse_idx`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    return parse_idx(_read_bytes(path), str(path))


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip if ``compress`` or the name ends in ``.gz``).

    Used by the tests to make small data sets; the element type follows the
    array's dtype (one of the six IDX types).
    """
    path = Path(path)
    array = np.asarray(array)
    for code, dtype in _IDX_TYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise ValueError(f"IDX cannot hold dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        raw = gzip.compress(raw, mtime=0)
    path.write_bytes(raw)
    return path


def find_idx_files(directory) -> dict[str, Path]:
    """The four IDX files of an MNIST-style directory, by part name (see :data:`IDX_PARTS`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"data directory {directory} does not exist; pass --data with a directory holding "
            "the MNIST-style IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), or --data digits"
        )
    found, missing = {}, []
    for part, stems in IDX_PARTS.items():
        candidates = [directory / (stem + suffix) for stem in stems for suffix in ("", ".gz")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(" or ".join(c.name for c in candidates))
        else:
            found[part] = hit
    if missing:
        raise FileNotFoundError(f"{directory} lacks IDX file(s): " + "; ".join(missing))
    return found


def load_idx_directory(directory, name: str | None = None) -> Dataset:
    """An MNIST-style data set from a directory of four IDX files.

    Images (uint8, shape ``(n, rows, cols)``) become float64 rows scaled to
    [0, 1] by the largest value of their element type (255 for uint8).
    Fashion-MNIST gets its class names when ``name`` or the directory says so.
    """
    directory = Path(directory)
    files = find_idx_files(directory)
    arrays = {part: read_idx(path) for part, path in files.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim < 2:
            raise IDXFormatError(f"{files[f'{part}_images']}: images need >= 2 dimensions, got shape {images.shape}")
        if labels.ndim != 1:
            raise IDXFormatError(f"{files[f'{part}_labels']}: labels need 1 dimension, got shape {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise IDXFormatError(
                f"{files[f'{part}_images'].name} holds {images.shape[0]} images but "
                f"{files[f'{part}_labels'].name} {labels.shape[0]} labels"
            )
        if labels.size and labels.min() < 0:
            raise IDXFormatError(f"{files[f'{part}_labels']}: negative label {labels.min()}")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise IDXFormatError("train and test images differ in shape: "
                             f"{arrays['train_images'].shape[1:]} vs {arrays['test_images'].shape[1:]}")

    def scale(images):
        images = images.reshape(images.shape[0], -1)
        top = np.iinfo(images.dtype).max if images.dtype.kind in "iu" else 1.0
        return images.astype(np.float64) / float(top)

    name = name or directory.name
    fashion = "fashion" in name.lower() or "fashion" in str(directory.resolve()).lower()
    return Dataset(
        name=name,
        X_train=scale(arrays["train_images"]),
        y_train=arrays["train_labels"].astype(np.int64),
        X_test=scale(arrays["test_images"]),
        y_test=arrays["test_labels"].astype(np.int64),
        image_shape=tuple(arrays["train_images"].shape[1:]),
        class_names=FASHION_MNIST_CLASSES if fashion and arrays["train_labels"].max() < 10 else (),
    )


# -- scikit-learn digits --------------------------------------------------------

def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8x8 digits (pixel values 0..16, scaled to [0, 1]).

    Split stratified into train and test (``test_fraction`` of each class,
    deterministic in ``seed``). Needs scikit-learn (the ``data`` extra).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the digits data set needs scikit-learn: pip install 'symcorr[data]'") from error
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    bunch = _sk_load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    test[_stratified_indices(y, int(round(test_fraction * len(y))), rng)] = True
    return Dataset("digits", X[~test], y[~test], X[test], y[test], (8, 8))


def load_dataset(spec: str | os.PathLike | None = None) -> Dataset:
    """Resolve a ``--data`` value.

    * ``"digits"`` (also ``None``): scikit-learn's 8x8 digits;
    * ``"fashion"`` / ``"fashion-mnist"``: Debian's install in :data:`FASHION_MNIST_DEBIAN`;
    * anything else: a directory of MNIST-style IDX files.
    """
    if spec is None or str(spec).lower() == "digits":
        return load_digits()
    if str(spec).lower() in ("fashion", "fashion-mnist", "fashion_mnist"):
        if not FASHION_MNIST_DEBIAN.is_dir():
            raise FileNotFoundError(
                f"Fashion-MNIST is not installed in {FASHION_MNIST_DEBIAN}: "
                "apt-get install dataset-fashion-mnist, or pass --data DIRECTORY with the IDX files"
            )
        return load_idx_directory(FASHION_MNIST_DEBIAN, name="fashion-mnist")
    return load_idx_directory(spec)
