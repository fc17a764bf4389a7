"""Data for training: handwritten digits as (x, label) arrays, from three places.

- `load_digits_split`: scikit-learn's bundled 8×8 digits (1,797 images, no download; the optional
  extra `bp-oracle[digits]`), split into training / validation / test by a seed, scaled to [0, 1].
- `load_mnist_pkl`: Nielsen's `mnist.pkl.gz` (the book's 50,000 / 10,000 / 10,000 split), read
  by an unpickler that can build NumPy arrays and nothing else: no code named by the file is run.
- `load_mnist_idx`: the IDX files (`train-images-idx3-ubyte` and friends, optionally `.gz`),
  parsed byte by byte from their header; the last 10,000 training images become the validation
  set, as Nielsen's split does.

Every loader returns a `Split` of three `Dataset`s: `x` is `(n, n_0)` floats in [0, 1], batch-first
as everywhere in manual_bp, and `labels` is `(n,)` integers 0..9 (not one-hot: `one_hot` in
`training.py` builds targets where a cost needs them). NumPy only; scikit-learn is imported
inside `load_digits_split`, so importing this module needs neither it nor jax.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

Array = np.ndarray


class Dataset(NamedTuple):
    """Examples as rows: `x` `(n, n_0)` floats, `labels` `(n,)` integer classes."""

    x: Array
    labels: Array

    @property
    def n(self) -> int:
        """The number of examples."""
        return int(self.labels.shape[0])


class Split(NamedTuple):
    """Training, validation and test sets, disjoint."""

    training: Dataset
    validation: Dataset
    test: Dataset


# --- scikit-learn's digits (the default: nothing to download) --------------------------------

DIGITS_EXTRA_HINT = "pip install 'bp-oracle[digits]' (scikit-learn)"


def load_digits_split(seed: int = 0, validation: int = 180, test: int = 360,
                      dtype=np.float64) -> Split:
    """scikit-learn's 1,797 8×8 digits, shuffled by `seed` and split into test (the first `test`
    examples of the permutation), validation (the next `validation`) and training (the rest,
    1,257 by default: 70 / 10 / 20 %). Pixels 0..16 are divided by 16, so x is in [0, 1] as
    MNIST's is in Nielsen's file."""
    seed = _check_seed(seed)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ModuleNotFoundError(f"the digits dataset needs scikit-learn: {DIGITS_EXTRA_HINT}") from None
    digits = load_digits()
    x = np.asarray(digits.data, dtype=dtype) / 16
    labels = np.asarray(digits.target, dtype=np.int64)
    return split_by_seed(Dataset(x, labels), seed, validation=validation, test=test)


def split_by_seed(data: Dataset, seed: int, validation: int, test: int) -> Split:
    """A seeded permutation of `data`, cut into test, validation and training, in that order."""
    seed = _check_seed(seed)
    n = data.n
    for name, count in (("validation", validation), ("test", test)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"{name} size must be an integer ≥ 0, got {count!r}")
    if validation + test >= n:
        raise ValueError(f"validation ({validation}) + test ({test}) leave no training examples out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    parts = np.split(order, [test, test + validation])
    test_set, validation_set, training_set = (Dataset(data.x[i], data.labels[i]) for i in parts)
    return Split(training_set, validation_set, test_set)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")
    return int(seed)


# --- Nielsen's mnist.pkl.gz, without running pickle code -------------------------------------

# numpy's own array rebuilders, taken from what an array's __reduce__ names (their module moved
# from numpy.core to numpy._core in NumPy 2, and reaching them by import would warn).
_reconstruct = np.empty(0).__reduce__()[0]  # protocols 2–4
_frombuffer = np.empty(0).__reduce_ex__(5)[0]  # protocol 5


class RefusedByLoader(pickle.UnpicklingError):
    """The pickle asked for something other than NumPy arrays."""


def _latin1_bytes(text, encoding="latin1"):
    """Python 3 writes bytes into a protocol-2 pickle as `_codecs.encode(text, 'latin1')`; this
    stands in for that call and does nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedByLoader("refusing _codecs.encode other than of a string to latin-1 bytes")
    return text.encode("latin1")


# The only globals a pickle of plain NumPy arrays names (NumPy's two spellings, and Python 3's
# bytes helper at protocol 2). Each maps to an object chosen here: the file picks nothing we run.
_NUMPY_ARRAY_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays, tuples, lists, numbers and strings, and refuses
    every other global.

    A pickle is a program: each global it names (`os.system`, `builtins.eval`, …) is imported
    and may be called while loading. Nielsen's `mnist.pkl.gz` needs only numpy's array
    reconstructor, `numpy.ndarray` and `numpy.dtype` (see `_NUMPY_ARRAY_GLOBALS` for the few
    others a re-saved file may name); any other name stops the load before anything runs.
    """

    def find_class(self, module: str, name: str):
        try:
            return _NUMPY_ARRAY_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _NUMPY_ARRAY_GLOBALS)
            raise RefusedByLoader(
                f"refusing to load {module}.{name}: this loader only rebuilds NumPy arrays "
                f"(allowed: {allowed})") from None

    def persistent_load(self, pid):
        raise RefusedByLoader("refusing a persistent id: this loader only rebuilds NumPy arrays")


def load_mnist_pkl(path, dtype=np.float64) -> Split:
    """Nielsen's `mnist.pkl.gz` (or an uncompressed `mnist.pkl`): a pickled tuple
    `((x, y), (x, y), (x, y))` for training (50,000), validation and test (10,000 each), x
    float32 `(n, 784)` in [0, 1], y integer labels `(n,)`.

    The file was written by Python 2, so its byte strings are read as latin-1 (the encoding that
    maps bytes 0–255 one to one). Only NumPy arrays are rebuilt (see `ArraysOnlyUnpickler`); the
    result is then checked to have exactly that structure.
    """
    path = _existing_file(path)
    try:
        with _open_maybe_gzip(path) as f:
            loaded = ArraysOnlyUnpickler(f, encoding="latin1").load()
    except RefusedByLoader as e:
        raise ValueError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, OSError, IndexError, KeyError, AttributeError, ValueError, TypeError) as e:
        raise ValueError(f"{path} is not a readable pickle of NumPy arrays ({type(e).__name__}: {e})") from None
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 3
            and all(isinstance(part, (tuple, list)) and len(part) == 2 for part in loaded)):
        raise ValueError(f"{path}: expected ((x, y), (x, y), (x, y)) for training, validation and test, "
                         f"as Nielsen's mnist.pkl.gz holds")
    parts = [_checked_images_and_labels(x, y, f"{path} [{name}]", dtype, scale=1.0)
             for (x, y), name in zip(loaded, ("training", "validation", "test"))]
    return Split(*parts)


# --- the IDX files ---------------------------------------------------------------------------

# The IDX header: two zero bytes, a type code, the number of dimensions, then each dimension as a
# big-endian uint32; the data follow, big-endian, row-major.
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

# (images, labels) for training and test; either spelling (`-idx3-` or `.idx3-`), optionally .gz
_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path) -> Array:
    """One IDX file as a NumPy array of its own shape and type (gzip detected from its bytes)."""
    path = _existing_file(path)
    with _open_maybe_gzip(path) as f:
        try:
            raw = f.read()
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: cannot read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (it does not start with two zero bytes)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}; "
                         f"known: {', '.join(f'0x{t:02X}' for t in _IDX_TYPES)}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: IDX header is truncated or names no dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} of {dtype.name} ({expected:,} bytes), "
                         f"but the file holds {len(raw) - header:,} bytes of data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist_idx(directory, validation: int = 10_000, dtype=np.float64) -> Split:
    """MNIST from its four IDX files in `directory` (names as distributed, `.gz` or not).
    Images become rows of 784 pixels scaled by 1/255 to [0, 1]; the last `validation` training
    images are held out for validation (Nielsen's split: 50,000 / 10,000, then the 10,000 test)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory holding MNIST's IDX files")
    loaded = {}
    for part, names in _IDX_NAMES.items():
        images, labels = (read_idx(_find_idx(directory, name)) for name in names)
        if images.ndim != 3:
            raise ValueError(f"{part} images should be a 3-D IDX array (n, rows, cols), got shape {images.shape}")
        loaded[part] = _checked_images_and_labels(images.reshape(images.shape[0], -1), labels,
                                                  f"{directory} [{part}]", dtype, scale=255.0)
    training = loaded["train"]
    if isinstance(validation, bool) or not isinstance(validation, (int, np.integer)) or not 0 <= validation < training.n:
        raise ValueError(f"validation must be an integer in [0, {training.n}), got {validation!r}")
    cut = training.n - validation
    return Split(Dataset(training.x[:cut], training.labels[:cut]),
                 Dataset(training.x[cut:], training.labels[cut:]), loaded["test"])


def _find_idx(directory: Path, name: str) -> Path:
    dotted = name.replace("-idx", ".idx")  # some mirrors write train-images.idx3-ubyte
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        if (directory / candidate).is_file():
            return directory / candidate
    raise ValueError(f"{directory} has no {name} (nor {name}.gz); expected MNIST's four IDX files: "
                     f"{', '.join(n for pair in _IDX_NAMES.values() for n in pair)}")


# --- shared checks ---------------------------------------------------------------------------


def _existing_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


def _open_maybe_gzip(path: Path):
    """The file's bytes, through gzip when it starts with gzip's magic number 1f 8b."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _checked_images_and_labels(x, y, what: str, dtype, scale: float) -> Dataset:
    """x as `(n, n_0)` floats divided by `scale`, y as `(n,)` integer labels, or a ValueError."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise ValueError(f"{what}: expected NumPy arrays, got {type(x).__name__} and {type(y).__name__}")
    if x.dtype.kind not in "uif" or y.dtype.kind not in "ui":
        raise ValueError(f"{what}: expected numeric images and integer labels, got dtypes {x.dtype} and {y.dtype}")
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: expected images (n, pixels) and labels (n,), got shapes {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no examples")
    x = np.asarray(x, dtype=dtype) / scale
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{what}: pixel values should lie in [0, 1] after dividing by {scale:g}")
    if y.min() < 0:
        raise ValueError(f"{what}: labels must be ≥ 0, found {int(y.min())}")
    return Dataset(x, y.astype(np.int64))
