"""scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes), shipped with sklearn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from symsynth.data.base import Dataset, assemble, check_train_classes

DEFAULT_TRAIN_CLASSES = (0, 1, 2, 3, 4)


def digits(seed: int = 0, *, train_classes: Sequence[int] = DEFAULT_TRAIN_CLASSES) -> Dataset:
    """The digits as float images ``[N, 1, 8, 8]`` in [0, 1]; train 0-4, test 5-9 by default.

    The data are fixed, so ``seed`` changes nothing (it is kept for a uniform interface).

    >>> ds = digits()
    >>> tuple(ds.train.x.shape[1:]), ds.train.classes, ds.test.classes
    ((1, 8, 8), [0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    train_classes = check_train_classes(train_classes, 10)
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    n_train = int(np.isin(y, train_classes).sum())
    description = (
        f"scikit-learn's 8×8 handwritten digits: {len(y)} images of 10 classes; digits"
        f" {', '.join(map(str, train_classes))} train ({n_train} images), the others test."
    )
    names = [str(d) for d in range(10)]
    return assemble("digits", x, y, names, train_classes, description, is_image=True, seed=seed)
