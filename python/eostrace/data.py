"""Small data helpers: Fashion-MNIST from the IDX files Debian's dataset-fashion-mnist package
installs (/usr/share/datasets/fashion-mnist), as eostrace's presets use it: two classes with ±1
labels, or any subset of the 10 classes with one-hot (or ±1) targets [n, c]."""

from __future__ import annotations

import gzip
import os

import numpy as np

DEFAULT_DIRECTORY = "/usr/share/datasets/fashion-mnist"


def read_idx(path: str) -> np.ndarray:
    """An IDX file (optionally .gz) as a numpy array (unsigned bytes only, as Fashion-MNIST)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} values, header says {dims}")
    return data.reshape(dims)


def fashion_mnist(n: int = 1000, classes=(0, 6), *, seed: int = 0, train: bool = True, center: bool = True,
                  directory: str | None = None, flatten: bool = True, targets: str | None = None):
    """(X, Y): ⌈n/2⌉ images of classes[0] (label +1) and ⌊n/2⌋ of classes[1] (label −1), drawn at
    random (numpy generator, `seed`; not the Swift recorder's draws), kept in file order, pixels/255,
    centered per feature when `center`. X is [n, 784] (flatten) or [n, 28, 28].

    targets="onehot" or "pm1": any number c of classes (e.g. classes=range(10)), n split as
    evenly as possible (the first n mod c classes get one more), Y [n, c] with column a for
    classes[a]: 1/0 (onehot) or +1/−1 (pm1) — several outputs, recorded as format 2.0."""
    directory = directory or os.environ.get("EOSTRACE_FASHION_MNIST", DEFAULT_DIRECTORY)
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
    rng = np.random.default_rng(seed)
    classes = [int(c) for c in classes]
    if targets is not None:
        if targets not in ("onehot", "pm1"):
            raise ValueError(f"fashion_mnist: targets {targets!r} is not 'onehot' or 'pm1'")
        if len(set(classes)) != len(classes) or not classes or not all(0 <= c <= 9 for c in classes):
            raise ValueError(f"fashion_mnist: classes {classes} must be distinct labels 0...9")
        c = len(classes)
        want = [n // c + (1 if a < n % c else 0) for a in range(c)]
    else:
        if len(classes) != 2:
            raise ValueError(f"fashion_mnist: {len(classes)} classes need targets='onehot' or 'pm1' (several outputs)")
        want = [(n + 1) // 2, n // 2]
    chosen = []
    for c, m in zip(classes, want):
        idx = np.nonzero(labels == c)[0]
        if idx.size < m:
            raise ValueError(f"{directory}: class {c} has {idx.size} samples, {m} requested")
        chosen.append(rng.choice(idx, size=m, replace=False))
    chosen = np.sort(np.concatenate(chosen))
    X = images[chosen].astype(np.float64) / 255.0
    if targets is not None:
        hit = labels[chosen][:, None] == np.array(classes)[None, :]
        Y = np.where(hit, 1.0, 0.0 if targets == "onehot" else -1.0)
    else:
        Y = np.where(labels[chosen] == classes[0], 1.0, -1.0)
    if center:
        X = X - X.mean(axis=0, keepdims=True)
    return (X.reshape(len(chosen), -1) if flatten else X), Y
