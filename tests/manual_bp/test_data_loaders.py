"""The loaders read MNIST as users have it, from small files the tests write: Nielsen's
mnist.pkl.gz (as Python 2 wrote it, and as Python 3 re-saves it) without running pickle code,
and the IDX files, plain or gzipped; the digits split is seeded, disjoint and scaled."""

import gzip
import io
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

from manual_bp.data import Dataset, load_digits_split, load_mnist_idx, load_mnist_pkl, read_idx


def mnist_like(seed, sizes=(50, 20, 30), pixels=784):
    """((x, y), (x, y), (x, y)) shaped like Nielsen's file: float32 pixels in [0, 1], int64 labels."""
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, pixels), dtype=np.float32), rng.integers(0, 10, n)) for n in sizes)


class Python2StylePickler(pickle._Pickler):
    """Writes bytes with Python 2's str opcodes (BINSTRING), as cPickle wrote Nielsen's file."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def python2_mnist_pkl_gz(path, data):
    buf = io.BytesIO()
    Python2StylePickler(buf, protocol=2).dump(data)
    # NumPy 1.x, which wrote the file, named the reconstructor numpy.core.multiarray
    raw = buf.getvalue().replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")
    assert b"numpy.core.multiarray" in raw and pickle.BINSTRING in raw
    with gzip.open(path, "wb") as f:
        f.write(raw)
    return path


def assert_split_equals(split, data):
    for part, (x, y) in zip(split, data):
        assert part.x.dtype == np.float64 and part.labels.dtype == np.int64
        np.testing.assert_array_equal(part.x, x.astype(np.float64))
        np.testing.assert_array_equal(part.labels, y)


# --- mnist.pkl.gz ------------------------------------------------------------------------------


def test_python2_mnist_pkl_gz_is_read_with_its_arrays_intact(tmp_path):
    data = mnist_like(0)
    split = load_mnist_pkl(python2_mnist_pkl_gz(tmp_path / "mnist.pkl.gz", data))
    assert [d.n for d in split] == [50, 20, 30]
    assert_split_equals(split, data)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("compress", [True, False])
def test_mnist_pkl_resaved_by_python3_is_read_at_every_protocol(tmp_path, protocol, compress):
    data = mnist_like(protocol)
    raw = pickle.dumps(data, protocol=protocol)
    path = tmp_path / ("mnist.pkl.gz" if compress else "mnist.pkl")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    assert_split_equals(load_mnist_pkl(path), data)


class _Payload:
    """Unpickling this would create a directory: the side effect shows whether code ran."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("payload, refused", [
    (lambda t: _Payload(t), "os.mkdir"),  # posix.mkdir on Linux
    (lambda t: (mnist_like(0)[0], _Payload(t), mnist_like(0)[2]), "mkdir"),
])
def test_a_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, payload, refused):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(payload(target), protocol=2)))
    with pytest.raises(ValueError, match=r"refusing to load \S*mkdir: this loader only rebuilds NumPy arrays"):
        load_mnist_pkl(path)
    assert not target.exists()


def test_builtins_eval_is_refused(tmp_path):
    # GLOBAL builtins.eval, then call it: the classic pickle exploit, written by hand
    evil = b"\x80\x02cbuiltins\neval\nX\x0e\x00\x00\x00__import__('os')\x85R."
    path = tmp_path / "evil.pkl"
    path.write_bytes(evil)
    with pytest.raises(ValueError, match=r"refusing to load builtins\.eval"):
        load_mnist_pkl(path)


def test_codecs_encode_is_allowed_only_for_latin1_strings(tmp_path):
    evil = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R."
    path = tmp_path / "codec.pkl"
    path.write_bytes(evil)
    with pytest.raises(ValueError, match="refusing _codecs.encode other than of a string to latin-1"):
        load_mnist_pkl(path)


@pytest.mark.parametrize("content, message", [
    (lambda: {"train": 1}, r"expected \(\(x, y\), \(x, y\), \(x, y\)\)"),
    (lambda: mnist_like(0)[:2], r"expected \(\(x, y\), \(x, y\), \(x, y\)\)"),
    (lambda: ((np.zeros((3, 4)), np.zeros(2, np.int64)),) * 3, r"\[training\]: expected images \(n, pixels\) and labels \(n,\)"),
    (lambda: ((np.array([[1, "a"]], dtype=object), np.zeros(1, np.int64)),) * 3, "expected numeric images and integer labels"),
    (lambda: ((np.full((2, 3), 2.0), np.zeros(2, np.int64)),) * 3, r"pixel values should lie in \[0, 1\]"),
    (lambda: ((np.zeros((2, 3)), np.zeros(2)),) * 3, "integer labels, got dtypes float64 and float64"),
])
def test_a_pickle_of_the_wrong_shape_is_rejected_with_what_was_expected(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content(), protocol=4))
    with pytest.raises(ValueError, match=message):
        load_mnist_pkl(path)


@pytest.mark.parametrize("raw, message", [
    (b"", "not a readable pickle"),
    (b"this is not a pickle", "not a readable pickle"),
    (gzip.compress(b"\x80\x02(K\x01", mtime=0), "not a readable pickle"),  # truncated
])
def test_a_file_that_is_not_a_pickle_gives_one_clear_error(tmp_path, raw, message):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=message):
        load_mnist_pkl(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such file: .*nope.pkl.gz"):
        load_mnist_pkl(tmp_path / "nope.pkl.gz")


# --- IDX -----------------------------------------------------------------------------------------


def idx_bytes(array, type_code):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist_idx(directory, rng, n_train=30, n_test=12, gz=False, dotted=False):
    images = {"train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "t10k": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)}
    labels = {k: rng.integers(0, 10, v.shape[0]).astype(np.uint8) for k, v in images.items()}
    for part in ("train", "t10k"):
        for kind, array, dims in (("images", images[part], 3), ("labels", labels[part], 1)):
            name = f"{part}-{kind}{'.' if dotted else '-'}idx{dims}-ubyte" + (".gz" if gz else "")
            raw = idx_bytes(array, 0x08)
            (directory / name).write_bytes(gzip.compress(raw) if gz else raw)
    return images, labels


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (True, True)])
def test_mnist_idx_files_load_scaled_and_split_as_nielsen_splits(tmp_path, gz, dotted):
    images, labels = write_mnist_idx(tmp_path, np.random.default_rng(1), gz=gz, dotted=dotted)
    split = load_mnist_idx(tmp_path, validation=10)
    assert [d.n for d in split] == [20, 10, 12]
    x_train = images["train"].reshape(30, 784) / 255.0
    np.testing.assert_array_equal(split.training.x, x_train[:20])  # the first n − validation ...
    np.testing.assert_array_equal(split.validation.x, x_train[20:])  # ... then the last for validation
    np.testing.assert_array_equal(split.test.x, images["t10k"].reshape(12, 784) / 255.0)
    np.testing.assert_array_equal(split.validation.labels, labels["train"][20:])
    assert split.training.x.max() <= 1.0 and split.training.labels.dtype == np.int64


@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                         (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
def test_read_idx_reads_every_type_big_endian(tmp_path, dtype, code):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array, code))
    got = read_idx(tmp_path / "a.idx")
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("raw, message", [
    (b"\x08\x03\x00\x00", "not an IDX file"),
    (bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
    (bytes([0, 0, 0x08, 2]) + struct.pack(">I", 3), "header is truncated"),
    (bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"\x01\x02", r"header says shape \(5,\) of uint8 \(5 bytes\), but the file holds 2 bytes"),
])
def test_a_malformed_idx_file_says_what_is_wrong(tmp_path, raw, message):
    (tmp_path / "bad-idx1-ubyte").write_bytes(raw)
    with pytest.raises(ValueError, match=message):
        read_idx(tmp_path / "bad-idx1-ubyte")


def test_a_missing_idx_file_lists_the_four_expected(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(2))
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="has no t10k-labels-idx1-ubyte .*expected MNIST's four IDX files"):
        load_mnist_idx(tmp_path, validation=10)


def test_idx_images_and_labels_of_different_counts_are_rejected(tmp_path):
    rng = np.random.default_rng(3)
    write_mnist_idx(tmp_path, rng)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(7, np.uint8), 0x08))
    with pytest.raises(ValueError, match=r"\[train\]: expected images \(n, pixels\) and labels \(n,\), got shapes \(30, 784\) and \(7,\)"):
        load_mnist_idx(tmp_path, validation=10)


# --- the digits -----------------------------------------------------------------------------


@pytest.mark.slow
def test_digits_split_is_seeded_disjoint_and_scaled_to_the_unit_interval():
    a, b, c = load_digits_split(0), load_digits_split(0), load_digits_split(1)
    assert [d.n for d in a] == [1257, 180, 360]
    assert all(np.array_equal(p.x, q.x) and np.array_equal(p.labels, q.labels) for p, q in zip(a, b))
    assert not np.array_equal(a.test.labels, c.test.labels)
    everything = np.concatenate([d.x for d in a])
    assert everything.min() == 0.0 and everything.max() == 1.0  # pixels 0..16, divided by 16
    # disjoint: the three parts together are the 1,797 images, each once
    from sklearn.datasets import load_digits
    original = load_digits().data / 16
    rows = lambda x: sorted(map(bytes, x))  # noqa: E731
    assert rows(everything) == rows(original)
    assert set(a.test.labels) == set(range(10))


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed must be an integer ≥ 0"),
    (dict(seed=0, validation=1000, test=797), "leave no training examples out of 1797"),
    (dict(seed=0, test=-5), "test size must be an integer ≥ 0"),
])
def test_digits_split_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits_split(**kwargs)


def test_data_training_and_diagnostics_import_neither_jax_nor_sklearn():
    code = ("import sys, manual_bp.data, manual_bp.training, manual_bp.diagnostics; "
            "bad = [m for m in ('jax', 'sklearn', 'matplotlib') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_counts_examples_not_fields():
    assert Dataset(np.zeros((5, 3)), np.zeros(5, np.int64)).n == 5
