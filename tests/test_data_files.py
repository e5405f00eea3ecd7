"""``load_file``: CSV, NPZ and image ZIPs from paths, bytes and uploads; every bad input gets a
DataError that names the problem, and nothing in a user's file is ever unpickled."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from symsynth.data import DataError, load_file
from symsynth.data import files as files_module

# --- builders of test files ----------------------------------------------------------------


def csv_bytes(n_classes: int = 4, per_class: int = 3, header: str = "a,b,label") -> bytes:
    rows = [header]
    for c in range(n_classes):
        rows += [f"{c}.5,{i},c{c}" for i in range(per_class)]
    return ("\n".join(rows) + "\n").encode()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def png_bytes(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buf.getvalue()


def grey(value: int, size: tuple[int, int] = (10, 12)) -> bytes:
    return png_bytes(np.full(size, value, dtype=np.uint8))


def image_folders(n_classes: int = 4, per_class: int = 2, prefix: str = "") -> dict[str, bytes]:
    return {
        f"{prefix}class{c}/img{i}.png": grey(40 * c + i)
        for c in range(n_classes)
        for i in range(per_class)
    }


# --- CSV ------------------------------------------------------------------------------------


def test_csv_from_bytes() -> None:
    ds = load_file(csv_bytes(), filename="points.csv")
    assert ds.name == "points.csv" and ds.input_shape == (2,) and not ds.is_image
    assert ds.class_names == ["c0", "c1", "c2", "c3"]
    assert ds.train.classes == [0, 1] and ds.test.classes == [2, 3]
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert ds.train.x[0].tolist() == [0.5, 0.0]
    assert ds.natural_dim is None and ds.split == "class-disjoint"


def test_csv_label_column_by_name_and_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    text = "kind,f1,f2\n" + "".join(f"{k},{k},{i}\n" for k in (10, 2, 33, 4) for i in range(2))
    path = tmp_path / "data.csv"
    path.write_text(text)
    ds = load_file(path, label_column="kind")
    assert ds.class_names == ["2", "4", "10", "33"]
    assert ds.train.x[:, 0].unique().tolist() == [2.0, 4.0]


def test_csv_utf8_bom_and_blank_lines() -> None:
    data = "\ufeffx,label\n1,a\n\n2,a\n3,b\n4,b\n5,c\n6,c\n7,d\n8,d\n".encode()
    assert load_file(data, filename="bom.csv").n_classes == 4


def test_upload_like_object_is_read_from_the_start() -> None:
    upload = io.BytesIO(csv_bytes())
    upload.name = "upload.csv"  # what streamlit's UploadedFile carries
    upload.read()  # an earlier rerun consumed it
    ds = load_file(upload)
    assert ds.name == "upload.csv" and len(ds.train) + len(ds.test) == 12


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"'d\.csv' is empty \(0 bytes\)"),
        (b"\n\n", r"the CSV is empty"),
        (b"a,b,label\n", r"header but no data rows"),
        (b"a,b,label\n1,2,x\n1,nan,y\n", r"NaN or infinite.*'b' on line 3"),
        (b"a,b,label\n1,inf,x\n", r"NaN or infinite.*'inf'"),
        (b"a,b,label\n1,1e999,x\n", r"NaN or infinite"),
        (b"a,b,label\n1,two,x\n", r"non-numeric value 'two' in feature column 'b' on line 2"),
        (b"a,b,label\n1,,x\n", r"missing value in column 'b' on line 2"),
        (b"a,b,cls\n1,2,x\n", r"no label column 'label'; its columns are: a, b, cls"),
        (b"a;b;label\n1;2;x\n", r"no label column 'label'.*separated by ';'"),
        (b"1,2,3\n1,2,3\n", r"no label column 'label'.*looks like data"),
        (b"a,b,label\n1,2\n", r"line 2 of the CSV has 2 fields but the header has 3"),
        (b"a,b,label\n1,2,\n", r"line 2 of the CSV has an empty label"),
        (b"label\nx\n", r"only the label column"),
        (b"a,a,label\n1,2,x\n", r"names column 'a' twice"),
        (b"a,label\n\xff\xfe,x\n", r"not UTF-8"),
    ],
)
def test_bad_csv(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(data, filename="d.csv")


def test_single_class() -> None:
    with pytest.raises(DataError, match=r"single class \('c0'\).*at least 2 classes"):
        load_file(csv_bytes(n_classes=1), filename="one.csv")


def test_class_with_one_sample() -> None:
    data = csv_bytes(n_classes=4) + b"9,9,lonely\n"
    with pytest.raises(DataError, match=r"class 'lonely' has only 1 sample.*positive pair"):
        load_file(data, filename="d.csv")


def test_class_disjoint_needs_four_classes_and_stratified_needs_four_samples() -> None:
    with pytest.raises(
        DataError, match=r"class-disjoint split needs at least 4 classes.*stratified"
    ):
        load_file(csv_bytes(n_classes=3), filename="d.csv")
    with pytest.raises(DataError, match=r"stratified split needs at least 4 samples per class"):
        load_file(csv_bytes(n_classes=3, per_class=3), filename="d.csv", split="stratified")


def test_stratified_split_keeps_every_class_on_both_sides() -> None:
    data = csv_bytes(n_classes=3, per_class=10)
    ds = load_file(data, filename="d.csv", split="stratified", test_fraction=0.3, seed=1)
    assert ds.split == "stratified"
    assert ds.train.classes == ds.test.classes == [0, 1, 2]
    assert np.bincount(ds.test.y.numpy()).tolist() == [3, 3, 3]
    again = load_file(data, filename="d.csv", split="stratified", test_fraction=0.3, seed=1)
    other = load_file(data, filename="d.csv", split="stratified", test_fraction=0.3, seed=2)
    assert torch.equal(ds.test.x, again.test.x) and not torch.equal(ds.test.x, other.test.x)


def test_test_fraction_sets_how_many_classes_are_held_out() -> None:
    ds = load_file(csv_bytes(n_classes=10), filename="d.csv", test_fraction=0.3)
    assert ds.train.classes == list(range(7)) and ds.test.classes == [7, 8, 9]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"split": "random"},
            r"split='random' is not known; use one of: class-disjoint, stratified",
        ),
        ({"test_fraction": 1.0}, r"test_fraction=1\.0 must be strictly between 0 and 1"),
        ({"max_rows": 0}, r"max_rows must be a positive integer, got 0"),
        ({"max_uncompressed_bytes": -5}, r"max_uncompressed_bytes must be a positive integer"),
        ({"test_fraction": "half"}, r"test_fraction='half' must be strictly between 0 and 1"),
        ({"seed": -1}, r"seed must be an integer between 0 and"),
        ({"label_column": 3}, r"label_column must be a column name \(text\), got 3"),
        ({"image_size": "big"}, r"image_size must be a positive integer"),
    ],
)
def test_bad_arguments(options: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(csv_bytes(), filename="d.csv", **options)


# --- sources, sizes, extensions -------------------------------------------------------------


def test_unknown_or_missing_extension() -> None:
    with pytest.raises(DataError, match=r"unknown file extension '\.txt' of 'notes\.txt'.*\.csv"):
        load_file(b"hello", filename="notes.txt")
    with pytest.raises(DataError, match=r"unknown file extension '\(none\)'"):
        load_file(b"hello", filename="README")


def test_missing_name_path_or_mode() -> None:
    with pytest.raises(DataError, match=r"no file name; pass filename="):
        load_file(csv_bytes())
    with pytest.raises(DataError, match=r"no such file: '.*nope\.csv'"):
        load_file("/definitely/nope.csv")
    with pytest.raises(DataError, match=r"opened in text mode"):
        load_file(io.StringIO("a,label\n"), filename="d.csv")
    with pytest.raises(DataError, match=r"cannot read a int"):
        load_file(42, filename="d.csv")


def test_empty_file_on_disk(tmp_path: Path) -> None:
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"'empty\.npz' is empty"):
        load_file(tmp_path / "empty.npz")


def test_more_bytes_than_the_limit(tmp_path: Path) -> None:
    data = csv_bytes(n_classes=4, per_class=50)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    for source in (path, data, io.BytesIO(data)):
        with pytest.raises(DataError, match=r"larger than the limit max_bytes=100 bytes"):
            load_file(source, filename="big.csv", max_bytes=100)


def test_more_rows_than_the_limit() -> None:
    with pytest.raises(DataError, match=r"more than max_rows=10 data rows"):
        load_file(csv_bytes(n_classes=4, per_class=5), filename="d.csv", max_rows=10)
    npz = npz_bytes(x=np.zeros((20, 2)), y=np.arange(20) % 4)
    with pytest.raises(DataError, match=r"20 items, more than max_rows=10"):
        load_file(npz, filename="d.npz", max_rows=10)
    archive = zip_bytes(image_folders(4, 3))
    with pytest.raises(DataError, match=r"12 images, more than max_rows=10"):
        load_file(archive, filename="d.zip", max_rows=10)


# --- NPZ ------------------------------------------------------------------------------------


def test_npz_features_and_text_labels() -> None:
    x = np.arange(24, dtype=np.float64).reshape(8, 3)
    y = np.array(["cat", "dog", "eel", "fox"] * 2)
    ds = load_file(npz_bytes(x=x, y=y), filename="f.npz")
    assert ds.input_shape == (3,) and ds.class_names == ["cat", "dog", "eel", "fox"]
    assert ds.train.x.tolist() == x[[0, 1, 4, 5]].tolist()


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((8, 6, 5), (1, 6, 5)), ((8, 6, 5, 3), (3, 6, 5)), ((8, 1, 6, 5), (1, 6, 5))],
)
def test_npz_images(shape: tuple, expected: tuple) -> None:
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    ds = load_file(npz_bytes(x=x, y=np.arange(8) % 4), filename="im.npz")
    assert ds.is_image and ds.input_shape == expected
    assert float(ds.train.x.min()) >= 0.0 and float(ds.train.x.max()) <= 1.0


def _explode() -> None:
    raise AssertionError("user data was unpickled")


class Trap:
    """Unpickling this would call _explode."""

    def __reduce__(self):
        return (_explode, ())


def test_object_arrays_are_never_unpickled() -> None:
    y = np.arange(4) % 2
    for x in (np.array([Trap()] * 4, dtype=object), np.array([[1.0], "a", None, 2], dtype=object)):
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        with pytest.raises(DataError, match=r"array 'x' holds Python objects \(a pickled object"):
            load_file(buf.getvalue(), filename="evil.npz")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 2))}, r"no array 'y'; it holds: x.*np\.savez"),
        ({"features": np.zeros((4, 2)), "y": np.zeros(4)}, r"no array 'x'"),
        ({"x": np.zeros((5, 2)), "y": np.arange(4)}, r"x has 5 items but y has 4 labels"),
        ({"x": np.array([[1.0], [np.nan]]), "y": np.arange(2)}, r"NaN or infinite.*item 1"),
        ({"x": np.array([[np.inf], [1.0]]), "y": np.arange(2)}, r"NaN or infinite.*item 0"),
        ({"x": np.array([[1.0], [1e300]]), "y": np.arange(2)}, r"too large for float32.*item 1"),
        ({"x": np.array([["a"], ["b"]]), "y": np.arange(2)}, r"x has dtype <U1, not numbers"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, r"y has dtype float64; labels must be integ"),
        ({"x": np.zeros((4, 2)), "y": np.zeros((4, 1), int)}, r"y must be one label per item"),
        ({"x": np.zeros(4), "y": np.arange(4)}, r"x must have one row per item"),
        ({"x": np.zeros((4, 5, 6, 7)), "y": np.arange(4)}, r"not \[N, D\] features or"),
    ],
)
def test_bad_npz(arrays: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(npz_bytes(**arrays), filename="d.npz")


def test_npz_that_is_not_a_zip() -> None:
    with pytest.raises(DataError, match=r"not a valid NPZ \(zip\) archive"):
        load_file(b"just text", filename="d.npz")


def test_npz_bomb_is_refused_from_its_headers() -> None:
    data = npz_bytes(x=np.zeros((4, 1000)), y=np.arange(4))  # 32 kB of zeros
    with pytest.raises(DataError, match=r"would expand to .* max_uncompressed_bytes=1,000"):
        load_file(data, filename="d.npz", max_uncompressed_bytes=1000)


# --- ZIP of image folders -------------------------------------------------------------------


def test_zip_of_grey_folders() -> None:
    ds = load_file(
        zip_bytes(image_folders(4, 2, prefix="my data/")), filename="d.zip", image_size=16
    )
    assert ds.is_image and ds.input_shape == (1, 16, 16)
    assert ds.class_names == ["class0", "class1", "class2", "class3"]  # common top folder dropped
    assert ds.train.classes == [0, 1] and ds.test.classes == [2, 3]
    assert torch.allclose(ds.train.x[0], torch.full((1, 16, 16), 0 / 255))
    assert torch.allclose(ds.test.x[-1], torch.full((1, 16, 16), 121 / 255))


def test_zip_with_colour_and_jpeg_and_transparency_and_junk() -> None:
    entries = image_folders(4, 2)
    rgb = np.zeros((9, 9, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    entries["class0/red.jpg"] = png_bytes(rgb, "JPEG")
    clear = np.zeros((9, 9, 4), dtype=np.uint8)  # fully transparent: white paper
    entries["class1/clear.png"] = png_bytes(clear)
    entries["__MACOSX/class0/._img0.png"] = b"resource fork"
    entries["class2/.DS_Store"] = b"finder"
    ds = load_file(zip_bytes(entries), filename="d.zip", image_size=8)
    assert ds.input_shape == (3, 8, 8) and len(ds.train) + len(ds.test) == 10
    red = ds.train.x[ds.train.y == 0][-1]
    assert red[0].mean() > 0.7 and red[1].mean() < 0.1
    white = ds.train.x[ds.train.y == 1][-1]
    assert torch.allclose(white, torch.ones_like(white))


@pytest.mark.parametrize(
    "name", ["../evil.png", "class0/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"]
)
def test_zip_entries_escaping_the_folder(name: str) -> None:
    entries = image_folders()
    entries[name] = grey(0)
    with pytest.raises(DataError, match=r"escapes the archive's folder"):
        load_file(zip_bytes(entries), filename="d.zip")


def test_zip_bomb_is_refused_from_its_headers() -> None:
    entries = image_folders()
    entries["class0/huge.png"] = b"\0" * 3_000_000  # compresses to a few kB
    data = zip_bytes(entries)
    assert len(data) < 50_000
    with pytest.raises(DataError, match=r"would expand to 3,00\d,\d+ bytes.*zip bomb"):
        load_file(data, filename="d.zip", max_uncompressed_bytes=1_000_000)


def _declare_size(data: bytes, declared: int) -> bytes:
    """Rewrite the uncompressed size in the first local header and central directory entry."""
    data = bytearray(data)
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, declared)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, declared)
    return bytes(data)


def test_zip_entry_larger_than_its_header_says_is_refused() -> None:
    entries = {"class0/liar.png": b"\0" * 1_000_000, **image_folders()}
    data = _declare_size(zip_bytes(entries), 100)
    with pytest.raises(DataError, match=r"'class0/liar\.png'.*does not match the size its header"):
        load_file(data, filename="d.zip")


def test_the_byte_budget_is_also_counted_while_reading() -> None:
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes({"a/b.png": b"\0" * 200_000})))
    with pytest.raises(DataError, match=r"'a/b\.png' expands beyond.*zip bomb"):
        files_module._read_entry(archive, archive.infolist()[0], [100_000])


def test_files_in_the_zip_that_are_not_images() -> None:
    entries = image_folders()
    entries["class0/notes.txt"] = b"hello"
    with pytest.raises(DataError, match=r"'class0/notes\.txt' in the zip is not an image"):
        load_file(zip_bytes(entries), filename="d.zip")
    entries = image_folders()
    entries["class0/fake.png"] = b"this is not a png at all"
    with pytest.raises(DataError, match=r"'class0/fake\.png' in the zip is not a readable PNG"):
        load_file(zip_bytes(entries), filename="d.zip")
    entries = image_folders()
    entries["class0/truncated.png"] = grey(9, (40, 40))[:60]
    with pytest.raises(DataError, match=r"'class0/truncated\.png' in the zip is not a readable"):
        load_file(zip_bytes(entries), filename="d.zip")


def test_other_image_formats_are_not_decoded() -> None:
    entries = image_folders()
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "GIF")
    entries["class0/really_a_gif.png"] = buf.getvalue()
    with pytest.raises(DataError, match=r"really_a_gif\.png' in the zip is not a readable PNG"):
        load_file(zip_bytes(entries), filename="d.zip")


def test_image_with_too_many_pixels(monkeypatch) -> None:
    monkeypatch.setattr(files_module, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match=r"'class0/img0\.png' has more than 100 pixels"):
        load_file(zip_bytes(image_folders()), filename="d.zip")


def test_zip_structure_errors() -> None:
    with pytest.raises(DataError, match=r"image 'loose\.png' is not inside a class folder"):
        load_file(zip_bytes({**image_folders(), "loose.png": grey(1)}), filename="d.zip")
    with pytest.raises(DataError, match=r"holds no PNG or JPEG images"):
        load_file(zip_bytes({"empty/": b""}), filename="d.zip")
    with pytest.raises(DataError, match=r"single class \('only'\)"):
        load_file(zip_bytes({"only/a.png": grey(1), "only/b.png": grey(2)}), filename="d.zip")
    with pytest.raises(DataError, match=r"class 'class3' has only 1 sample"):
        entries = image_folders(4, 2)
        del entries["class3/img1.png"]
        load_file(zip_bytes(entries), filename="d.zip")
    with pytest.raises(DataError, match=r"not a valid image ZIP \(zip\) archive"):
        load_file(b"PK but not really", filename="d.zip")


def test_encrypted_entries_are_refused() -> None:
    data = bytearray(zip_bytes(image_folders()))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set "encrypted" flag
        start = 0
        while (i := data.find(signature, start)) >= 0:
            data[i + offset] |= 1
            start = i + 4
    with pytest.raises(DataError, match=r"is encrypted; zip it without a password"):
        load_file(bytes(data), filename="d.zip")
