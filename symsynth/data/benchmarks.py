"""The paper's three benchmarks, read from a folder you already have: CUB-200-2011, Cars196 and
Stanford Online Products (SOP). Nothing is downloaded.

Layouts (as the official archives unpack) and the standard class-disjoint splits:

=========  ======================================================  ===========================
name       ``data_root`` must contain                               split (train / test)
=========  ======================================================  ===========================
cub200     ``images/``, ``classes.txt``, ``images.txt``,            classes 1-100 / 101-200
           ``image_class_labels.txt`` (CUB_200_2011.tgz; the        (5,864 / 5,924 images)
           folder ``CUB_200_2011/`` or its parent)
cars196    ``car_ims/`` and ``cars_annos.mat`` side by side         classes 1-98 / 99-196
           (car_ims.tgz + cars_annos.mat; read with scipy)          (8,054 / 8,131 images)
sop        ``Ebay_train.txt``, ``Ebay_test.txt`` and the image      11,318 / 11,316 classes as
           folders (Stanford_Online_Products.zip; the folder        the two files list them
           ``Stanford_Online_Products/`` or its parent)             (59,551 / 60,502 images)
=========  ======================================================  ===========================

CUB and Cars use the first half of the classes (by class id) for training and the second for
testing, whatever their number, so a smaller folder of the same layout works too. Cars196's
bounding boxes and its own train/test flag are not used (the metric-learning protocol ignores
them). Labels are class ids 0 … n_classes − 1 in the order of the official ids.

Images stay on disk. A split's ``x`` is an :class:`ImageFiles`: paths, read with Pillow when
indexed, converted to RGB, transformed and normalised with the ImageNet mean and std.

* training split: random resized crop (area 8-100 %, aspect 3/4-4/3, as torchvision's
  RandomResizedCrop) to ``image_size`` and a horizontal flip with probability 1/2;
* test split: the shorter side resized to ``resize`` (default ``image_size·256/224``) and the
  centre ``image_size``² crop, done as one resampling.

Augmentation is reproducible: each item draws its crop and flip from its own
``torch.Generator`` seeded with a per-item seed. ``images.load(index, seeds=...)`` takes those
seeds (:func:`augmentation_seeds` makes them from a run's seed and step, so the same step
gives the same pixels on any number of ranks or data-loader workers);
``images.load(index, generator=g)`` draws the seeds from ``g``; plain ``images[index]`` draws
them from torch's global generator.

>>> import tempfile, numpy as np
>>> from PIL import Image
>>> root = tempfile.mkdtemp()
>>> Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(f"{root}/a.png")
>>> images = ImageFiles([f"{root}/a.png"] * 3, image_size=16, augment=True)
>>> images.load([0, 2], seeds=torch.tensor([1, 2])).shape
torch.Size([2, 3, 16, 16])
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from symsynth.data.base import (
    DataError,
    Dataset,
    Split,
    check_int,
    check_seed,
    default_train_classes,
)

__all__ = [
    "BENCHMARKS",
    "ImageFiles",
    "BatchImages",
    "augmentation_seeds",
    "batch_loader",
    "load_benchmark",
    "cub200",
    "cars196",
    "sop",
]

BENCHMARKS = ("cub200", "cars196", "sop")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)
CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults (torchvision)
CROP_RATIO = (3 / 4, 4 / 3)
_SEED_SALT = 0x5EED_A06  # keeps augmentation streams apart from the sampler's (seed, epoch)

LAYOUTS = {
    "cub200": (
        "CUB-200-2011",
        "CUB_200_2011",
        ("images", "classes.txt", "images.txt", "image_class_labels.txt"),
        "images/ (one folder per class), classes.txt, images.txt and image_class_labels.txt, "
        "as unpacked from CUB_200_2011.tgz (give the folder CUB_200_2011/ or its parent)",
    ),
    "cars196": (
        "Cars196",
        None,
        ("car_ims", "cars_annos.mat"),
        "car_ims/ (the 16,185 images of car_ims.tgz) and cars_annos.mat, side by side",
    ),
    "sop": (
        "Stanford Online Products",
        "Stanford_Online_Products",
        ("Ebay_train.txt", "Ebay_test.txt"),
        "Ebay_train.txt, Ebay_test.txt and the image folders they name (bicycle_final/ ... "
        "toaster_final/), as unpacked from Stanford_Online_Products.zip (give the folder "
        "Stanford_Online_Products/ or its parent)",
    ),
}


# -- transforms (Pillow + torch) --------------------------------------------------------------


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * torch.rand(1, generator=generator, dtype=torch.float64).item()


def random_resized_crop_box(
    width: int,
    height: int,
    generator: torch.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """A random crop ``(left, top, right, bottom)`` covering ``scale`` of the image's area with
    aspect ratio in ``ratio`` (torchvision's RandomResizedCrop rule: 10 tries, then the centre
    crop with the nearest allowed aspect ratio).

    >>> g = torch.Generator().manual_seed(0)
    >>> l, t, r, b = random_resized_crop_box(100, 50, g)
    >>> 0 <= l < r <= 100 and 0 <= t < b <= 50
    True
    """
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_ratio[0], log_ratio[1], generator))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, max(1, round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = max(1, round(height * max(ratio))), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def to_tensor(image: Image.Image) -> Tensor:
    """An RGB Pillow image as a float32 tensor ``[3, H, W]`` normalised with ImageNet's mean/std.

    >>> to_tensor(Image.new("RGB", (4, 2), (124, 116, 104))).shape
    torch.Size([3, 2, 4])
    """
    x = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)  # [H, W, 3], NumPy: no threads
    x = (x - _MEAN) / _STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def train_transform(
    image: Image.Image,
    size: int,
    generator: torch.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> Tensor:
    """Random resized crop to ``size``×``size`` and a horizontal flip with probability 1/2.

    >>> g = torch.Generator().manual_seed(0)
    >>> train_transform(Image.new("RGB", (40, 30)), 16, g).shape
    torch.Size([3, 16, 16])
    """
    box = random_resized_crop_box(image.width, image.height, generator, scale, ratio)
    image = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    if torch.rand(1, generator=generator).item() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(image)


def eval_transform(image: Image.Image, size: int, resize: int) -> Tensor:
    """Shorter side resized to ``resize``, then the centre ``size``×``size`` crop (one resampling
    of the matching box of the original image).

    >>> eval_transform(Image.new("RGB", (40, 30)), 16, 18).shape
    torch.Size([3, 16, 16])
    """
    factor = resize / min(image.width, image.height)
    crop_w, crop_h = min(size / factor, image.width), min(size / factor, image.height)
    left, top = (image.width - crop_w) / 2, (image.height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return to_tensor(image.resize((size, size), Image.Resampling.BILINEAR, box=box))


# -- lazy images ---------------------------------------------------------------------------------


def _index_list(index: Any, n: int) -> list[int]:
    """Positions from an int, slice, sequence, numpy array or integer tensor, bounds-checked."""
    if isinstance(index, slice):
        return list(range(n))[index]
    if isinstance(index, Tensor):
        if index.dtype == torch.bool:
            raise TypeError("boolean masks are not supported; use mask.nonzero().flatten()")
        index = index.tolist()
    positions = np.asarray(index).reshape(-1).tolist()
    bad = [i for i in positions if not isinstance(i, int) or not -n <= i < n]
    if bad:
        raise IndexError(f"index {bad[0]!r} is not a position among {n} images (0 to {n - 1})")
    return [i % n for i in positions]


class ImageFiles:
    """Images on disk that index like a float32 tensor ``[N, 3, S, S]``: read when asked.

    ``augment=True`` (the training split) applies :func:`train_transform` with one seed per
    item; ``augment=False`` (the test split) applies :func:`eval_transform`. ``images[i]`` is
    ``[3, S, S]``, ``images[index]`` is ``[len(index), 3, S, S]``. ``dtype``, ``shape``,
    ``len`` and ``clone`` are there so a :class:`~symsynth.data.base.Split` can hold it.

    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/grey.png"
    >>> Image.new("L", (12, 8), 128).save(path)
    >>> images = ImageFiles([path, path], image_size=8)
    >>> images.shape, tuple(images[0].shape)
    ((2, 3, 8, 8), (3, 8, 8))
    """

    dtype = torch.float32

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        image_size: int = 224,
        resize: int | None = None,
        augment: bool = False,
        scale: tuple[float, float] = CROP_SCALE,
        ratio: tuple[float, float] = CROP_RATIO,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.image_size = check_int("image_size", image_size, 8, 2048)
        default_resize = round(self.image_size * 256 / 224)
        self.resize = default_resize if resize is None else resize
        check_int("resize", self.resize, self.image_size, 4096)
        self.augment = bool(augment)
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise DataError(f"scale must satisfy 0 < low <= high <= 1, got {scale!r}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise DataError(f"ratio must satisfy 0 < low <= high, got {ratio!r}")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), 3, self.image_size, self.image_size)

    def __repr__(self) -> str:
        kind = "augmented" if self.augment else f"resize {self.resize}, centre crop"
        return f"ImageFiles({len(self)} images, {self.image_size}x{self.image_size}, {kind})"

    def clone(self) -> ImageFiles:
        """A copy (the images are files: nothing large is copied)."""
        return ImageFiles(
            self.paths, self.image_size, self.resize, self.augment, self.scale, self.ratio
        )

    def open(self, i: int) -> Image.Image:
        """Image ``i`` as an RGB Pillow image; a DataError names a missing or broken file."""
        path = self.paths[i]
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise DataError(
                f"image {path} does not exist; the data folder is incomplete (unpack the "
                "archive again)"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataError(
                f"cannot read image {path} ({err}); the file is damaged or not an image. "
                "Replace it from the original archive."
            ) from None

    def load(
        self,
        index: Any,
        generator: torch.Generator | None = None,
        seeds: Tensor | Sequence[int] | None = None,
    ) -> Tensor:
        """The images at ``index``, transformed: ``[n, 3, S, S]`` (``[3, S, S]`` for an int).

        With ``augment``, item k's crop and flip come from ``torch.Generator`` seeded with
        ``seeds[k]``; without ``seeds`` they are drawn from ``generator`` (or torch's global
        generator). The test transform uses no randomness.
        """
        single = isinstance(index, int | np.integer) or (
            isinstance(index, Tensor) and index.dim() == 0
        )
        positions = _index_list(index, len(self))
        if self.augment:
            if seeds is None:
                seeds = torch.randint(0, 2**62, (len(positions),), generator=generator)
            seeds = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
            if len(seeds) != len(positions):
                raise ValueError(f"got {len(seeds)} seeds for {len(positions)} images")
        s = self.image_size
        out = np.empty((len(positions), 3, s, s), dtype=np.float32)  # filled by NumPy copies
        for k, i in enumerate(positions):
            image = self.open(i)
            if self.augment:
                g = torch.Generator().manual_seed(int(seeds[k]))
                out[k] = train_transform(image, s, g, self.scale, self.ratio).numpy()
            else:
                out[k] = eval_transform(image, s, self.resize).numpy()
        return torch.from_numpy(out[0] if single else out)

    def __getitem__(self, index: Any) -> Tensor:
        return self.load(index)


def augmentation_seeds(seed: int, step: int, batch_size: int) -> Tensor:
    """One augmentation seed per row of the global batch of training step ``step``.

    A pure function of ``(seed, step)``: give rank r its :func:`~symsynth.distributed.rank_slice`
    of these, as of the batch's indices, and the pixels do not depend on the number of ranks.

    >>> torch.equal(augmentation_seeds(0, 5, 4), augmentation_seeds(0, 5, 4))
    True
    >>> torch.equal(augmentation_seeds(0, 5, 4), augmentation_seeds(0, 6, 4))
    False
    """
    state = np.random.SeedSequence([_SEED_SALT, seed, step]).generate_state(batch_size, np.uint64)
    return torch.from_numpy((state >> np.uint64(2)).astype(np.int64))


class BatchImages(torch.utils.data.Dataset):
    """Item i is batch i of images, loaded and transformed: for a DataLoader with workers.

    ``batches`` are index tensors (e.g. one rank's slices of the sampler's batches, or
    ``torch.arange(n).split(256)`` for evaluation); ``seeds`` are the matching per-row seeds,
    required for augmented images so that the result does not depend on the workers.
    """

    def __init__(
        self,
        images: ImageFiles,
        batches: Sequence[Tensor],
        seeds: Sequence[Tensor] | None = None,
    ) -> None:
        if images.augment and seeds is None:
            raise ValueError(
                "augmented images need seeds for every batch (augmentation_seeds(seed, step, n))"
                " so that the crops do not depend on the data-loader workers"
            )
        if seeds is not None and len(seeds) != len(batches):
            raise ValueError(f"got {len(seeds)} seed tensors for {len(batches)} batches")
        self.images, self.batches, self.seeds = images, batches, seeds

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Tensor:
        seeds = None if self.seeds is None else self.seeds[i]
        return self.images.load(self.batches[i], seeds=seeds)


def batch_loader(
    images: ImageFiles,
    batches: Sequence[Tensor],
    seeds: Sequence[Tensor] | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader yielding ``images.load(batches[i], seeds=seeds[i])`` in order, decoded by
    ``num_workers`` processes (0: in this process).

    >>> import tempfile
    >>> path = f"{tempfile.mkdtemp()}/x.png"
    >>> Image.new("RGB", (9, 9)).save(path)
    >>> [tuple(b.shape) for b in batch_loader(ImageFiles([path] * 3, 8), [torch.tensor([0, 1])])]
    [(2, 3, 8, 8)]
    """
    return torch.utils.data.DataLoader(
        BatchImages(images, batches, seeds),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


# -- reading the official layouts ----------------------------------------------------------------


def _find_root(name: str, data_root: Any) -> Path:
    """The folder holding ``name``'s files: ``data_root`` itself or its standard subfolder."""
    title, subfolder, required, layout = LAYOUTS[name]
    if data_root is None or data_root == "":
        raise DataError(
            f"dataset {name!r} reads a local copy of {title}: pass data_root=DIR (--data-root DIR)"
            f", a folder that contains {layout}. Nothing is downloaded."
        )
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data_root {str(root)!r} for {name!r} is not a folder; it must contain {layout}"
        )
    candidates = [root] + ([root / subfolder] if subfolder else [])
    for folder in candidates:
        if all((folder / item).exists() for item in required):
            return folder
    missing = [item for item in required if not (root / item).exists()]
    raise DataError(
        f"{str(root)!r} is not a {title} folder: it must contain {layout}. "
        f"Missing: {', '.join(missing)}."
    )


def _table(path: Path, n_fields: int, header: bool = False) -> list[list[str]]:
    """Whitespace-separated rows of a text file (the last field may contain spaces)."""
    rows = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or (header and number == 1):
            continue
        fields = line.split(maxsplit=n_fields - 1)
        if len(fields) != n_fields:
            raise DataError(
                f"{path}, line {number}: expected {n_fields} fields, got {line.strip()!r}"
            )
        rows.append(fields)
    if not rows:
        raise DataError(f"{path} lists nothing; it should be the file from the official archive")
    return rows


def _int(text: str, path: Path) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}: expected a whole-number id, got {text!r}") from None


def _check_files(name: str, paths: list[str]) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:3])
        raise DataError(
            f"{len(missing)} of the {len(paths)} images listed for {name!r} are missing, e.g. "
            f"{shown}; unpack the images again (or pass check_files=False to skip this check)"
        )


def _read_cub(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    classes = _table(root / "classes.txt", 2)
    class_ids = [_int(c, root / "classes.txt") for c, _ in classes]
    position = {c: k for k, c in enumerate(sorted(class_ids))}
    names = [name for _, name in sorted(zip(class_ids, (n for _, n in classes), strict=True))]
    files = {_int(i, root / "images.txt"): p for i, p in _table(root / "images.txt", 2)}
    labels = {
        _int(i, root / "image_class_labels.txt"): _int(c, root / "image_class_labels.txt")
        for i, c in _table(root / "image_class_labels.txt", 2)
    }
    paths, y = [], []
    for image_id in sorted(files):
        if image_id not in labels:
            raise DataError(
                f"image id {image_id} of images.txt has no line in image_class_labels.txt"
            )
        if labels[image_id] not in position:
            raise DataError(
                f"image id {image_id} has class {labels[image_id]}, which classes.txt does not list"
            )
        paths.append(str(root / "images" / files[image_id]))
        y.append(position[labels[image_id]])
    return paths, np.asarray(y, dtype=np.int64), names


def _read_cars(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    from scipy.io import loadmat  # scipy comes with scikit-learn

    path = root / "cars_annos.mat"
    try:
        mat = loadmat(path, squeeze_me=True)
    except Exception as err:
        raise DataError(
            f"cannot read {path} with scipy.io.loadmat ({err}); it should be the cars_annos.mat"
            " of Cars196"
        ) from None
    annotations = mat.get("annotations")
    fields = getattr(getattr(annotations, "dtype", None), "names", None) or ()
    if "relative_im_path" not in fields or "class" not in fields:
        raise DataError(
            f"{path} has no 'annotations' struct with fields relative_im_path and class; "
            "it should be the cars_annos.mat of Cars196"
        )
    annotations = np.atleast_1d(annotations)
    files = [str(p) for p in annotations["relative_im_path"]]
    class_ids = np.asarray([int(c) for c in annotations["class"]], dtype=np.int64)
    names_raw = mat.get("class_names")
    n_classes = int(class_ids.max())
    if names_raw is None:
        names = [f"class {c}" for c in range(1, n_classes + 1)]
    else:
        names = [str(n) for n in np.atleast_1d(names_raw)]
    if class_ids.min() < 1 or class_ids.max() > len(names):
        raise DataError(
            f"{path}: class ids run from {class_ids.min()} to {class_ids.max()}, but there are "
            f"{len(names)} class names; they should run from 1 to {len(names)}"
        )
    return [str(root / f) for f in files], class_ids - 1, names


def _read_sop(root: Path) -> tuple[list[str], np.ndarray, list[str], tuple[int, ...]]:
    sides = {}
    for side in ("train", "test"):
        path = root / f"Ebay_{side}.txt"
        rows = _table(path, 4, header=True)
        sides[side] = [(_int(c, path), p) for _, c, _, p in rows]
    train_ids = {c for c, _ in sides["train"]}
    test_ids = {c for c, _ in sides["test"]}
    both = sorted(train_ids & test_ids)
    if both:
        raise DataError(
            f"classes {both[:5]} appear in both Ebay_train.txt and Ebay_test.txt; the SOP split "
            "is class-disjoint: use the official files"
        )
    all_ids = sorted(train_ids | test_ids)
    position = {c: k for k, c in enumerate(all_ids)}
    category = {}
    for c, p in sides["train"] + sides["test"]:
        category.setdefault(c, p.split("/")[0].removesuffix("_final"))
    names = [f"{category[c]}/{c}" for c in all_ids]
    rows = sides["train"] + sides["test"]
    paths = [str(root / p) for _, p in rows]
    y = np.asarray([position[c] for c, _ in rows], dtype=np.int64)
    train_classes = tuple(sorted(position[c] for c in train_ids))
    return paths, y, names, train_classes


def load_benchmark(
    name: str,
    data_root: str | os.PathLike | None,
    image_size: int = 224,
    *,
    resize: int | None = None,
    check_files: bool = True,
    seed: int = 0,
) -> Dataset:
    """CUB-200-2011, Cars196 or SOP from ``data_root`` with the standard class-disjoint split.

    ``image_size`` is the side of the square crops; ``resize`` the shorter side before the test
    crop (default ``image_size·256/224``). ``check_files`` confirms every listed image exists
    (a fraction of a second for SOP's 120,053 files on a local disk) so that a broken folder
    fails now, not hours into training. ``seed`` is recorded (the split itself is fixed).
    A :class:`DataError` says what the folder must contain.

    >>> try:
    ...     load_benchmark("cub200", data_root=None)
    ... except DataError as err:
    ...     print(str(err).split(":")[0])
    dataset 'cub200' reads a local copy of CUB-200-2011
    """
    if name not in BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; valid names are: {', '.join(BENCHMARKS)}")
    seed = check_seed(seed)
    image_size = check_int("image_size", image_size, 8, 2048)
    root = _find_root(name, data_root)
    if name == "cub200":
        paths, y, names = _read_cub(root)
        train_classes = default_train_classes(len(names), interleaved=False)
    elif name == "cars196":
        paths, y, names = _read_cars(root)
        train_classes = default_train_classes(len(names), interleaved=False)
    else:
        paths, y, names, train_classes = _read_sop(root)
    if check_files:
        _check_files(name, paths)
    is_train = np.isin(y, np.asarray(train_classes, dtype=np.int64))
    splits = []
    for mask, augment in ((is_train, True), (~is_train, False)):
        chosen = np.flatnonzero(mask)
        if len(np.unique(y[chosen])) < 2:
            side = "training" if augment else "test"
            raise DataError(
                f"{name} in {str(root)!r} has fewer than 2 {side} classes with images; "
                "a retrieval benchmark needs at least 2 on each side"
            )
        images = ImageFiles([paths[i] for i in chosen], image_size, resize, augment=augment)
        splits.append(Split(images, torch.from_numpy(y[chosen]), list(names)))  # type: ignore[arg-type]
    title = LAYOUTS[name][0]
    n_train_classes = len(np.unique(y[is_train]))
    n_test_classes = len(np.unique(y[~is_train]))
    description = (
        f"{title} from {root}: {len(paths)} images of {len(names)} classes; "
        f"{n_train_classes} classes train ({len(splits[0])} images), "
        f"{n_test_classes} unseen classes test ({len(splits[1])} images); "
        f"{image_size}x{image_size} crops."
    )
    return Dataset(
        name=name,
        train=splits[0],
        test=splits[1],
        input_shape=(3, image_size, image_size),
        n_classes=len(names),
        is_image=True,
        description=description,
        split="class-disjoint",
        seed=seed,
        options={
            "data_root": str(data_root),
            "image_size": image_size,
            "resize": splits[1].x.resize,
            "train_classes": tuple(int(c) for c in train_classes),
        },
    )


# Builders in the shape of symsynth.data.registry's (seed first, options keyword-only).


def _registry_builder(name: str):
    """A builder in the registry's shape for benchmark ``name`` (see :func:`load_benchmark`)."""

    def build(
        seed: int = 0,
        *,
        data_root: str | None = None,
        image_size: int = 224,
        resize: int | None = None,
        check_files: bool = True,
    ) -> Dataset:
        return load_benchmark(
            name, data_root, image_size, resize=resize, check_files=check_files, seed=seed
        )

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name} from ``data_root`` (see :func:`load_benchmark`)."
    return build


cub200, cars196, sop = (_registry_builder(name) for name in BENCHMARKS)
