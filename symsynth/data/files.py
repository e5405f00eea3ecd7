"""``load_file``: a user's CSV, NPZ or ZIP of images, validated, as a :class:`Dataset`.

Nothing in a user's file is trusted: sizes are checked before anything is decoded, NPZ arrays
are loaded with ``allow_pickle=False``, zip entries are read into memory (never extracted to
disk) under a total size budget that is checked against the zip headers and again while
reading, and images are decoded by Pillow with only its PNG and JPEG decoders enabled.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from symsynth.data.base import (
    MIN_CLASSES_PER_SIDE,
    SPLITS,
    DataError,
    Dataset,
    check_seed,
    class_disjoint_split,
    stratified_split,
)

EXTENSIONS = (".csv", ".npz", ".zip")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MAX_BYTES = 50 * 2**20  # the file as uploaded
MAX_ROWS = 50_000  # rows of a CSV, items of an NPZ, images in a ZIP
MAX_UNCOMPRESSED_BYTES = 200 * 2**20  # everything inside a ZIP or NPZ, once decompressed
MAX_IMAGE_PIXELS = 4096 * 4096  # one decoded image
IMAGE_SIZE = 28
_JUNK = ("__MACOSX", "Thumbs.db", "desktop.ini")  # files that zip tools add; skipped
_CHUNK = 2**16

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


def load_file(
    source: Source,
    filename: str | None = None,
    *,
    label_column: str = "label",
    split: str = "class-disjoint",
    test_fraction: float = 0.5,
    seed: int = 0,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    image_size: int = IMAGE_SIZE,
) -> Dataset:
    """Load labelled data from a CSV, NPZ or ZIP file and split it into train and test.

    ``source`` is a path, the file's bytes, or a binary file object (a Streamlit upload);
    ``filename`` names it when the source has no name of its own (its extension picks the
    format). Formats:

    - ``.csv``: a header row, numeric feature columns and a label column called
      ``label_column`` (labels may be any text).
    - ``.npz``: arrays ``x`` (``[N, D]`` features, or ``[N, H, W]`` / ``[N, C, H, W]`` /
      ``[N, H, W, C]`` images with C = 1 or 3) and ``y`` (``[N]`` integer or text labels).
      Integer images (uint8) are scaled to [0, 1].
    - ``.zip``: one folder per class of PNG/JPEG images, each resized to
      ``image_size``×``image_size``; grey if every image is grey, RGB otherwise.

    ``split="class-disjoint"`` keeps the first classes (in sorted label order) for training and
    the last ``test_fraction`` of them for testing, as the paper does; ``"stratified"`` puts
    ``test_fraction`` of every class's items in the test set (drawn with ``seed``). Class ids
    are positions in the sorted list of labels, and ``class_names`` holds the labels.

    Raises :class:`DataError` (a ``ValueError``) saying what is wrong and how to fix it.

    >>> csv_text = "a,b,label\\n" + "".join(f"{i},{i % 3},c{i % 4}\\n" for i in range(16))
    >>> ds = load_file(csv_text.encode(), filename="points.csv")
    >>> ds.input_shape, ds.class_names, ds.train.classes, ds.test.classes
    ((2,), ['c0', 'c1', 'c2', 'c3'], [0, 1], [2, 3])
    """
    if split not in SPLITS:
        raise DataError(f"split={split!r} is not known; use one of: {', '.join(SPLITS)}")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not 0.0 < test_fraction < 1.0
    ):
        raise DataError(f"test_fraction={test_fraction!r} must be strictly between 0 and 1")
    if not isinstance(label_column, str):
        raise DataError(f"label_column must be a column name (text), got {label_column!r}")
    seed = check_seed(seed)
    for key, value in [
        ("max_bytes", max_bytes),
        ("max_rows", max_rows),
        ("max_uncompressed_bytes", max_uncompressed_bytes),
        ("image_size", image_size),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{key} must be a positive integer, got {value!r}")
    data, filename = _read_source(source, filename, max_bytes)
    extension = Path(filename).suffix.lower()
    if extension not in EXTENSIONS:
        raise DataError(
            f"unknown file extension {extension or '(none)'!r} of {filename!r}; supported are"
            f" {', '.join(EXTENSIONS)} (CSV features, NumPy arrays, a zip of image folders)"
        )
    if extension == ".csv":
        x, labels = _parse_csv(data, label_column, max_rows)
        kind = "CSV"
    elif extension == ".npz":
        x, labels = _parse_npz(data, max_rows, max_uncompressed_bytes)
        kind = "NPZ"
    else:
        x, labels = _parse_image_zip(data, image_size, max_rows, max_uncompressed_bytes)
        kind = "image ZIP"
    return _make_dataset(filename, kind, x, labels, split, test_fraction, seed)


# --- reading the bytes -------------------------------------------------------------------


def _read_source(source: Any, filename: str | None, max_bytes: int) -> tuple[bytes, str]:
    too_big = "{name!r} is larger than the limit max_bytes={limit:,} bytes; use a smaller file"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"no such file: {str(path)!r}; check the path")
        if path.stat().st_size > max_bytes:
            raise DataError(too_big.format(name=path.name, limit=max_bytes))
        data, name = path.read_bytes(), filename or path.name
    elif isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), filename
    elif hasattr(source, "read"):
        name = filename or getattr(source, "name", None)
        if hasattr(source, "seek"):  # a Streamlit upload may have been read on an earlier run
            with contextlib.suppress(OSError, ValueError):
                source.seek(0)
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            raise DataError(f"{name!r} was opened in text mode; open it in binary mode ('rb')")
    else:
        raise DataError(
            f"cannot read a {type(source).__name__}; pass a path, bytes or a binary file object"
        )
    if not name:
        raise DataError("the data has no file name; pass filename='data.csv' (or .npz, .zip)")
    name = Path(str(name)).name
    if len(data) > max_bytes:
        raise DataError(too_big.format(name=name, limit=max_bytes))
    if len(data) == 0:
        raise DataError(f"{name!r} is empty (0 bytes); upload a file that holds data")
    return bytes(data), name


# --- CSV ---------------------------------------------------------------------------------


def _parse_csv(data: bytes, label_column: str, max_rows: int) -> tuple[np.ndarray, list]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"the CSV is not UTF-8 text (byte {error.start} cannot be decoded); save it as UTF-8"
        ) from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(rows, None)
    if header is None:
        raise DataError("the CSV is empty: it has no header row and no data")
    header = [cell.strip() for cell in header]
    if label_column not in header:
        hint = ""
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            hint = " The header looks separated by ';' or tabs: save the CSV with commas."
        elif all(_is_number(cell) for cell in header):
            hint = " The first row looks like data: add a header row that names the columns."
        raise DataError(
            f"the CSV has no label column {label_column!r}; its columns are: {', '.join(header)}."
            f" Pass label_column=<name of the column that holds the classes>.{hint}"
        )
    if len(set(header)) != len(header):
        duplicate = next(c for c in header if header.count(c) > 1)
        raise DataError(f"the CSV header names column {duplicate!r} twice; rename one of them")
    label_at = header.index(label_column)
    features = [name for i, name in enumerate(header) if i != label_at]
    if not features:
        raise DataError(f"the CSV has only the label column {label_column!r}; add feature columns")
    values: list[list[float]] = []
    labels: list[str] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        line = rows.line_num
        if len(values) >= max_rows:
            raise DataError(
                f"the CSV has more than max_rows={max_rows:,} data rows; use fewer rows or raise"
                f" max_rows"
            )
        if len(row) != len(header):
            raise DataError(
                f"line {line} of the CSV has {len(row)} fields but the header has {len(header)};"
                f" every row needs one value per column"
            )
        label = row[label_at].strip()
        if not label:
            raise DataError(f"line {line} of the CSV has an empty label in column {label_column!r}")
        numbers = []
        for column, cell in zip(header, row, strict=True):
            if column == label_column:
                continue
            numbers.append(_csv_number(cell, column, line))
        values.append(numbers)
        labels.append(label)
    if not values:
        raise DataError("the CSV has a header but no data rows; add one row per item")
    return np.asarray(values, dtype=np.float32), _natural_labels(labels)


def _csv_number(cell: str, column: str, line: int) -> float:
    cell = cell.strip()
    if not cell:
        raise DataError(f"missing value in column {column!r} on line {line} of the CSV; fill it in")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"non-numeric value {cell!r} in feature column {column!r} on line {line} of the CSV;"
            f" features must be numbers (is {column!r} the label? pass label_column={column!r})"
        ) from None
    if not math.isfinite(value) or abs(value) > np.finfo(np.float32).max:
        raise DataError(
            f"NaN or infinite value {cell!r} in column {column!r} on line {line} of the CSV;"
            f" replace or drop it"
        )
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _natural_labels(labels: list[str]) -> list:
    """Integer labels stay integers (so they sort 2 < 10), anything else stays text."""
    if all(re.fullmatch(r"[+-]?\d+", label) for label in labels):
        return [int(label) for label in labels]
    return labels


# --- NPZ ---------------------------------------------------------------------------------


def _parse_npz(data: bytes, max_rows: int, max_uncompressed: int) -> tuple[np.ndarray, list]:
    archive = _open_zip(data, "NPZ")
    entries = {info.filename: info for info in archive.infolist()}
    missing = [key for key in ("x", "y") if f"{key}.npy" not in entries]
    if missing:
        found = ", ".join(name.removesuffix(".npy") for name in entries) or "(none)"
        raise DataError(
            f"the NPZ has no array {missing[0]!r}; it holds: {found}. Save it with"
            f" np.savez(path, x=features, y=labels)"
        )
    wanted = [entries["x.npy"], entries["y.npy"]]
    _check_zip_budget(wanted, max_uncompressed)
    budget = [max_uncompressed]
    x, y = (_load_npy(archive, info, budget) for info in wanted)
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"x has dtype {x.dtype}, not numbers; save the features as a float or integer array"
        )
    if y.ndim != 1:
        raise DataError(f"y must be one label per item, shape [N]; got shape {y.shape}")
    if y.dtype.kind not in "iuUSb":
        raise DataError(
            f"y has dtype {y.dtype}; labels must be integers or text (e.g. y.astype(int))"
        )
    if x.ndim < 2:
        raise DataError(f"x must have one row per item, shape [N, ...]; got shape {x.shape}")
    if len(x) != len(y):
        raise DataError(
            f"x has {len(x)} items but y has {len(y)} labels; they must have the same length"
        )
    if len(x) > max_rows:
        raise DataError(
            f"the NPZ has {len(x):,} items, more than max_rows={max_rows:,}; use fewer or raise"
            f" max_rows"
        )
    scale = 255.0 if x.dtype == np.uint8 and x.ndim >= 3 else 1.0
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        x = x.astype(np.float32)
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        raise DataError(
            f"x holds NaN or infinite values, or values too large for float32 (first in item"
            f" {int(np.flatnonzero(~finite)[0])}); replace or drop them"
        )
    x = _as_images(x) / np.float32(scale) if x.ndim >= 3 else x.reshape(len(x), -1)
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8", errors="replace")
    return x.astype(np.float32), y.tolist()


def _load_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> np.ndarray:
    raw = _read_entry(archive, info, budget)
    name = info.filename.removesuffix(".npy")
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise DataError(
                f"array {name!r} holds Python objects (a pickled object array), which are never"
                f" loaded; save plain numeric or text arrays"
            ) from None
        raise DataError(f"array {name!r} in the NPZ cannot be read: {error}") from None
    except (OSError, EOFError) as error:
        raise DataError(f"array {name!r} in the NPZ is damaged: {error}") from None


def _as_images(x: np.ndarray) -> np.ndarray:
    """[N, H, W] → [N, 1, H, W]; [N, H, W, C] with C in (1, 3) → [N, C, H, W]."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(
        f"x of shape {x.shape} is not [N, D] features or [N, H, W] / [N, C, H, W] images with"
        f" C = 1 or 3; reshape it"
    )


# --- ZIP of image folders -----------------------------------------------------------------


def _open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise DataError(f"the file is not a valid {kind} (zip) archive: {error}") from None


def _check_zip_budget(infos: list[zipfile.ZipInfo], max_uncompressed: int) -> None:
    """Refuse before reading anything if the headers promise more than the budget."""
    total = sum(info.file_size for info in infos)
    if total > max_uncompressed:
        raise DataError(
            f"the archive would expand to {total:,} bytes, more than the limit"
            f" max_uncompressed_bytes={max_uncompressed:,} (a zip bomb, or just too much data);"
            f" use fewer or smaller files"
        )
    encrypted = [info.filename for info in infos if info.flag_bits & 0x1]
    if encrypted:
        raise DataError(f"{encrypted[0]!r} in the archive is encrypted; zip it without a password")


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """Read one entry in chunks, counting real bytes against ``budget[0]`` (headers may lie)."""
    parts, size = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > info.file_size or size > budget[0]:
                    raise DataError(
                        f"{info.filename!r} expands beyond its declared size or the limit"
                        f" max_uncompressed_bytes (a zip bomb); the archive is refused"
                    )
                parts.append(chunk)
    except zipfile.BadZipFile as error:
        raise DataError(
            f"{info.filename!r} in the archive is damaged or does not match the size its header"
            f" declares ({error}); the archive is refused: re-create it"
        ) from None
    except (OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise DataError(f"{info.filename!r} in the archive cannot be read: {error}") from None
    budget[0] -= size
    return b"".join(parts)


def _entry_parts(name: str) -> list[str]:
    """The path components of a zip entry, refusing any that could leave the folder."""
    clean = name.replace("\\", "/")
    parts = clean.split("/")
    if clean.startswith("/") or re.match(r"[A-Za-z]:", clean) or ".." in parts:
        raise DataError(
            f"zip entry {name!r} escapes the archive's folder (an absolute path or '..');"
            f" zip the class folders with relative paths"
        )
    return [part for part in parts if part not in ("", ".")]


def _is_junk(parts: list[str]) -> bool:
    return any(part in _JUNK or part.startswith(".") for part in parts)


def _parse_image_zip(
    data: bytes, image_size: int, max_rows: int, max_uncompressed: int
) -> tuple[np.ndarray, list]:
    archive = _open_zip(data, "image ZIP")
    images: list[tuple[list[str], zipfile.ZipInfo]] = []
    for info in archive.infolist():
        parts = _entry_parts(info.filename)
        if info.is_dir() or not parts or _is_junk(parts):
            continue
        if Path(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(
                f"{info.filename!r} in the zip is not an image; the zip may hold only"
                f" {', '.join(IMAGE_EXTENSIONS)} files, one folder per class"
            )
        if len(parts) < 2:
            raise DataError(
                f"image {info.filename!r} is not inside a class folder; put every image in a"
                f" folder named after its class"
            )
        images.append((parts, info))
    if not images:
        raise DataError("the zip holds no PNG or JPEG images; add one folder of images per class")
    if len(images) > max_rows:
        raise DataError(
            f"the zip holds {len(images):,} images, more than max_rows={max_rows:,}; use fewer"
            f" images or raise max_rows"
        )
    _check_zip_budget([info for _, info in images], max_uncompressed)
    folders = [parts[:-1] for parts, _ in images]
    while all(len(f) > 1 for f in folders) and len({f[0] for f in folders}) == 1:
        folders = [f[1:] for f in folders]  # drop a common top folder, e.g. "my_data/"
    budget = [max_uncompressed]
    pixels = [
        _decode(_read_entry(archive, info, budget), info.filename, image_size) for _, info in images
    ]
    if any(p.ndim == 3 for p in pixels):  # some colour: make every image RGB
        pixels = [p if p.ndim == 3 else np.repeat(p[:, :, None], 3, axis=2) for p in pixels]
        x = np.stack(pixels).transpose(0, 3, 1, 2)
    else:
        x = np.stack(pixels)[:, None]
    return x.astype(np.float32) / 255.0, ["/".join(folder) for folder in folders]


def _decode(raw: bytes, name: str, size: int) -> np.ndarray:
    """One PNG/JPEG as uint8 pixels [size, size] (grey) or [size, size, 3] (colour)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(raw), formats=["PNG", "JPEG"])
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise Image.DecompressionBombError
        image.draft(image.mode, (size, size))  # JPEG: decode at reduced size, much faster
        if image.mode.startswith("I") or image.mode == "F":  # 16-bit or float grey: rescale
            wide = np.asarray(image, dtype=np.float64)
            image = Image.fromarray(np.uint8(np.round(255 * wide / max(wide.max(), 1.0))))
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")  # transparent parts become white paper
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        if image.mode != "L":
            image = image.convert("RGB")
        pixels = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except Image.DecompressionBombError:
        raise DataError(
            f"image {name!r} has more than {MAX_IMAGE_PIXELS:,} pixels; shrink it before uploading"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DataError(
            f"{name!r} in the zip is not a readable PNG or JPEG image; remove it or re-save it"
        ) from None
    if pixels.ndim == 3 and (pixels == pixels[:, :, :1]).all():
        pixels = pixels[:, :, 0]  # colour mode but grey content
    return pixels


# --- labels and split ----------------------------------------------------------------------


def _make_dataset(
    filename: str,
    kind: str,
    x: np.ndarray,
    labels: list,
    split: str,
    test_fraction: float,
    seed: int,
) -> Dataset:
    classes = sorted(set(labels))
    names = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    if len(classes) < 2:
        raise DataError(
            f"{filename!r} has a single class ({names[0]!r}); metric learning needs at least 2"
            f" classes (and {2 * MIN_CLASSES_PER_SIDE} for a class-disjoint split)"
        )
    counts = np.bincount(y, minlength=len(classes))
    lonely = [names[c] for c in np.flatnonzero(counts < 2)]
    if lonely:
        raise DataError(
            f"class {lonely[0]!r} has only 1 sample ({len(lonely)} such classes); every class"
            f" needs at least 2 samples to form a positive pair: add samples or drop the class"
        )
    if split == "class-disjoint":
        if len(classes) < 2 * MIN_CLASSES_PER_SIDE:
            raise DataError(
                f"a class-disjoint split needs at least {2 * MIN_CLASSES_PER_SIDE} classes"
                f" ({MIN_CLASSES_PER_SIDE} to train, {MIN_CLASSES_PER_SIDE} to test) but"
                f" {filename!r} has {len(classes)}; use split='stratified' or add classes"
            )
        n_test = round(len(classes) * test_fraction)
        n_test = min(max(n_test, MIN_CLASSES_PER_SIDE), len(classes) - MIN_CLASSES_PER_SIDE)
        train_classes = tuple(range(len(classes) - n_test))
        train, test = class_disjoint_split(x, y, names, train_classes)
        how = f"classes {names[0]!r}…{names[len(train_classes) - 1]!r} train, the rest test"
    else:
        small = [names[c] for c in np.flatnonzero(counts < 4)]
        if small:
            raise DataError(
                f"a stratified split needs at least 4 samples per class (2 for training, 2 for"
                f" testing) but class {small[0]!r} has {counts[names.index(small[0])]};"
                f" add samples or use split='class-disjoint'"
            )
        train, test = stratified_split(x, y, names, test_fraction, seed)
        how = f"every class in both, {test_fraction:.0%} of each to test"
    description = (
        f"Your {kind} {filename!r}: {len(y):,} items of shape {tuple(x.shape[1:])},"
        f" {len(classes)} classes; {split} split ({how})."
    )
    return Dataset(
        name=filename,
        train=train,
        test=test,
        input_shape=tuple(x.shape[1:]),
        n_classes=len(classes),
        is_image=x.ndim == 4,
        description=description,
        natural_dim=None,
        split=split,
        seed=seed,
        options=dict(split=split, test_fraction=test_fraction),
    )
