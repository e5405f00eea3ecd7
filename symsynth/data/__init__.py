"""Datasets: toy spheres, digits, procedural glyphs with unseen test classes, and user files.

Every dataset is a :class:`Dataset` with a ``train`` and a ``test`` :class:`Split`. Built-in
datasets are class-disjoint, as in the paper: the test classes are never seen in training.
Labels are the original class ids of the whole dataset, ``class_names[label]`` names them.

>>> from symsynth.data import DATASETS, load_dataset
>>> DATASETS
('toy-circle', 'toy-sphere', 'blobs', 'rings', 'spirals', 'digits', 'glyphs')
>>> ds = load_dataset("glyphs", seed=0, n_classes=10, samples_per_class=4)
>>> tuple(ds.train.x.shape), ds.test.classes
((20, 1, 28, 28), [5, 6, 7, 8, 9])
"""

from symsynth.data.base import DataError, Dataset, Split
from symsynth.data.files import load_file
from symsynth.data.registry import DATASETS, clear_cache, dataset_options, load_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "Split",
    "clear_cache",
    "dataset_options",
    "load_dataset",
    "load_file",
]
