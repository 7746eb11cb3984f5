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

gzip is recognised by its magic bytes (``1f 8b``), not by the file name. What
a file may make the reader allocate is bounded by the data actually present:
the header's size claim must match a plain file's size, and for gzip it must
be within what the compressed size can hold (deflate expands at most
:data:`GZIP_MAX_RATIO`-fold), and no more than the claim is ever decompressed.
Dimension products are computed in Python integers (no overflow), and every
allocation that could exhaust memory is first compared with the memory
available (:func:`check_allocation`). Labels are class identifiers: they give
exactly as many classes as there are distinct labels (renumbered ``0..K-1`` if
needed, the original values kept as class names).

:class:`Dataset` holds flattened images as float64 in ``[0, 1]`` (pixel / max
pixel value) and integer labels; the preprocessing that feeds a network
(centering, scaling) belongs to the experiment (:mod:`symcorr.experiments.mnist`).
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
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


#: Deflate expands at most 1032-fold, so a gzip file of n bytes holds at most about 1032 n bytes.
GZIP_MAX_RATIO = 1032


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (the message says what is wrong)."""


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse, before allocating, ``nbytes`` for ``what`` when they exceed the available memory."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(f"{what} needs {nbytes / 2**30:.3g} GiB, more than the {available / 2**30:.3g} GiB "
                          "of memory available; use a smaller data set or subset")


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
            if y.dtype.kind not in "iu":
                raise ValueError(f"{self.name}: {part} labels must be integers, got {y.dtype}")
            if y.size and y.min() < 0:
                raise ValueError(f"{self.name}: negative {part} label {y.min()}")
            finite = np.isfinite(X)
            if not finite.all():
                row, column = (int(i) for i in np.argwhere(~finite)[0])
                raise ValueError(f"{self.name}: {part} image {row} holds {X[row, column]} at pixel {column}; "
                                 "images must be finite")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"{self.name}: train and test images differ in size")
        if math.prod(self.image_shape) != self.X_train.shape[1]:
            raise ValueError(f"{self.name}: image shape {self.image_shape} does not match {self.X_train.shape[1]} pixels")
        labels = np.concatenate([self.y_train, self.y_test])
        top = int(labels.max()) if labels.size else -1
        if self.class_names:
            if top >= len(self.class_names):
                raise ValueError(f"{self.name}: label {top} has no class name ({len(self.class_names)} names)")
        else:
            distinct = len(np.unique(labels))
            if top + 1 != distinct:
                raise ValueError(
                    f"{self.name}: labels must be 0..K-1 with every class present when no class_names are "
                    f"given; got {distinct} distinct label(s) up to {top}: renumber them "
                    "(np.unique(y, return_inverse=True)) or give class_names")
            self.class_names = tuple(str(c) for c in range(distinct))

    @property
    def n_classes(self) -> int:
        """The number of classes: one per class name (labels lie in ``0..n_classes-1``)."""
        return len(self.class_names)

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

def _idx_header(raw: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """The element type, shape and header length of an IDX file starting with ``raw``."""
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
    return _IDX_TYPES[type_code], shape, header


def _payload_error(name: str, payload: int, shape, dtype: np.dtype, expected: int,
                   at_least: bool = False) -> IDXFormatError:
    return IDXFormatError(
        f"{name}: IDX data has {'more than ' if at_least else ''}{payload} bytes, header shape {shape} of "
        f"{dtype.name} needs {expected}" + (" (file truncated?)" if payload < expected else " (trailing bytes)")
    )


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file (see the module docstring) into an array.

    The result has the file's dimensions and the native-endian version of its
    element type. Raises :class:`IDXFormatError` naming ``name`` and the defect.
    """
    dtype, shape, header = _idx_header(raw, name)
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if len(raw) - header != expected:
        raise _payload_error(name, len(raw) - header, shape, dtype, expected)
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read one IDX file, gzipped or not (see :func:`parse_idx`), allocating only what the file holds:
    a header claiming more than a plain file's size, or more than a gzip file could expand to, is
    refused before anything is read or decompressed, and no more than the claim is decompressed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    name = str(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        compressed = handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
        stream = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
        try:
            start = stream.read(4)
            start += stream.read(4 * start[3]) if len(start) == 4 else b""
            dtype, shape, header = _idx_header(start, name)
            expected = math.prod(shape) * dtype.itemsize
            if not compressed and size - header != expected:
                raise _payload_error(name, size - header, shape, dtype, expected)
            if compressed and header + expected > GZIP_MAX_RATIO * size + 1024:
                raise IDXFormatError(
                    f"{name}: header shape {shape} of {dtype.name} claims {header + expected} bytes, more than "
                    f"a gzip file of {size} bytes can hold (deflate expands at most {GZIP_MAX_RATIO}-fold): "
                    "the file is truncated or its header is wrong")
            check_allocation(2 * expected, f"reading {name} (shape {shape} of {dtype.name})")
            payload = stream.read(expected + 1)
            if compressed and len(payload) == expected:
                stream.read(1)  # reaches the end of the stream, where gzip checks its CRC and length
        except (OSError, EOFError, zlib.error) as error:
            raise IDXFormatError(f"{path}: gzip data is corrupt or truncated ({error})") from None
        finally:
            if compressed:
                stream.close()
    if len(payload) != expected:
        trailing = len(payload) > expected
        raise _payload_error(name, expected if trailing else len(payload), shape, dtype, expected, at_least=trailing)
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


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
    Labels become ``0..K-1`` for the K distinct label values of both parts
    (the values themselves are the class names; Fashion-MNIST gets its class
    names when ``name`` or the directory says so).
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
        if labels.dtype.kind not in "iu":
            raise IDXFormatError(f"{files[f'{part}_labels']}: labels must be integers, got {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise IDXFormatError(f"{files[f'{part}_labels']}: negative label {labels.min()}")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise IDXFormatError("train and test images differ in shape: "
                             f"{arrays['train_images'].shape[1:]} vs {arrays['test_images'].shape[1:]}")
    pixels = sum(arrays[f"{part}_images"].size for part in ("train", "test"))
    check_allocation(8 * pixels, f"{directory}: {pixels} pixels as float64")

    def scale(images):
        images = images.reshape(images.shape[0], -1)
        top = np.iinfo(images.dtype).max if images.dtype.kind in "iu" else 1.0
        return images.astype(np.float64) / float(top)

    # labels are class identifiers: as many classes as distinct labels, numbered 0..K-1
    values = np.unique(np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64))
    y_train, y_test = (np.searchsorted(values, arrays[f"{part}_labels"].astype(np.int64))
                       for part in ("train", "test"))
    name = name or directory.name
    fashion = "fashion" in name.lower() or "fashion" in str(directory.resolve()).lower()
    if fashion and values.size and values[-1] < len(FASHION_MNIST_CLASSES):
        class_names = tuple(FASHION_MNIST_CLASSES[v] for v in values)
    else:
        class_names = tuple(str(v) for v in values)
    return Dataset(
        name=name,
        X_train=scale(arrays["train_images"]),
        y_train=y_train,
        X_test=scale(arrays["test_images"]),
        y_test=y_test,
        image_shape=tuple(arrays["train_images"].shape[1:]),
        class_names=class_names,
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
