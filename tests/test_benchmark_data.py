"""CUB-200-2011, Cars196 and SOP loaders on tiny fake folders in each official layout.

Every fake image of class c is filled with colour ``COLOURS[c]``, so a test can tell from the
pixels alone which class an image belongs to (labels and files must not get shuffled apart).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from symsynth.data import DataError, Split
from symsynth.data.benchmarks import (
    BENCHMARKS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFiles,
    augmentation_seeds,
    batch_loader,
    cars196,
    cub200,
    eval_transform,
    load_benchmark,
    random_resized_crop_box,
    sop,
)
from symsynth.distributed import rank_slice

SIZE = 16  # crop side used in these tests
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]


def _image(path: Path, colour: tuple[int, int, int], grey: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (14, 10), colour)
    if grey:
        image = image.convert("L")
    image.save(path, quality=95)


def make_cub(root: Path, n_classes: int = 4, per_class: int = 3, images: bool = True) -> Path:
    """A CUB_200_2011/ folder inside ``root`` (as the archive unpacks); returns ``root``."""
    cub = root / "CUB_200_2011"
    (cub / "images").mkdir(parents=True)
    classes, files, labels = [], [], []
    image_id = 0
    for c in range(1, n_classes + 1):
        folder = f"{c:03d}.Bird_{c}"
        classes.append(f"{c} {folder}")
        for k in range(per_class):
            image_id += 1
            name = f"{folder}/Bird_{c}_{k}.{'jpg' if k % 2 else 'png'}"
            files.append(f"{image_id} {name}")
            labels.append(f"{image_id} {c}")
            if images:
                _image(cub / "images" / name, COLOURS[(c - 1) % len(COLOURS)], grey=k == 2)
    (cub / "classes.txt").write_text("\n".join(classes) + "\n")
    (cub / "images.txt").write_text("\n".join(files) + "\n")
    (cub / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    return root


def make_cars(root: Path, n_classes: int = 4, per_class: int = 3, images: bool = True) -> Path:
    """car_ims/ and cars_annos.mat (a struct array written with scipy.io.savemat)."""
    (root / "car_ims").mkdir(parents=True)
    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    n = n_classes * per_class
    annotations = np.zeros((1, n), dtype=[(f, "O") for f in fields])
    for i in range(n):
        c = i % n_classes + 1  # classes interleaved in file order, as in the real file
        path = f"car_ims/{i + 1:06d}.jpg"
        annotations[0, i] = (path, 1, 1, 10, 8, c, i % 2)  # the test flag must be ignored
        if images:
            _image(root / path, COLOURS[(c - 1) % len(COLOURS)])
    names = np.empty((1, n_classes), dtype=object)
    names[0, :] = [f"Make{c} Model {2000 + c}" for c in range(1, n_classes + 1)]
    savemat(root / "cars_annos.mat", {"annotations": annotations, "class_names": names})
    return root


def make_sop(root: Path, train=(1, 2), test=(3, 4), per_class: int = 2, images=True) -> Path:
    """Stanford_Online_Products/ with Ebay_train.txt, Ebay_test.txt and category folders."""
    sop_root = root / "Stanford_Online_Products"
    sop_root.mkdir(parents=True)
    image_id = 0
    for side, classes in (("train", train), ("test", test)):
        lines = ["image_id class_id super_class_id path"]
        for c in classes:
            category = "bicycle_final" if c % 2 else "chair_final"
            for k in range(per_class):
                image_id += 1
                path = f"{category}/{1000 + c}_{k}.JPG"
                lines.append(f"{image_id} {c} {1 + c % 2} {path}")
                if images:
                    _image(sop_root / path, COLOURS[(c - 1) % len(COLOURS)])
        (sop_root / f"Ebay_{side}.txt").write_text("\n".join(lines) + "\n")
    return root


def class_of_pixels(x: torch.Tensor) -> int:
    """Which COLOURS entry a (normalised, solid-colour) image was filled with."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    rgb = (x * std + mean).mean(dim=(1, 2)) * 255
    if float(rgb.max() - rgb.min()) < 2:  # a grey image: compare with the colours' luminance
        luminance = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in COLOURS]
        return int(np.argmin([abs(float(rgb[0]) - v) for v in luminance]))
    distances = [float((rgb - torch.tensor(c, dtype=torch.float)).norm()) for c in COLOURS]
    return int(np.argmin(distances))


def noise_image(path: Path, width: int = 30, height: int = 20) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


# -- the three layouts --------------------------------------------------------------------------


def test_cub_split_labels_and_pixels(tmp_path):
    ds = load_benchmark("cub200", make_cub(tmp_path), image_size=SIZE)
    assert ds.name == "cub200" and ds.n_classes == 4 and ds.is_image
    assert ds.input_shape == (3, SIZE, SIZE) and ds.split == "class-disjoint"
    assert ds.train.classes == [0, 1] and ds.test.classes == [2, 3]
    assert len(ds.train) == 6 and len(ds.test) == 6
    assert ds.class_names == [f"{c:03d}.Bird_{c}" for c in range(1, 5)]
    assert isinstance(ds.train, Split) and isinstance(ds.train.x, ImageFiles)
    assert ds.train.x.augment and not ds.test.x.augment
    test_images = ds.test.x[torch.arange(len(ds.test))]
    assert test_images.shape == (6, 3, SIZE, SIZE) and test_images.dtype == torch.float32
    for image, label in zip(test_images, ds.test.y.tolist(), strict=True):
        assert class_of_pixels(image) == label  # grey images are RGB too (3 channels)
    train_images = ds.train.x.load(torch.arange(6), seeds=torch.arange(6))
    assert [class_of_pixels(im) for im in train_images] == ds.train.y.tolist()
    assert ds.options["train_classes"] == (0, 1) and ds.options["image_size"] == SIZE


def test_cub_accepts_the_unpacked_folder_itself(tmp_path):
    make_cub(tmp_path)
    inside = load_benchmark("cub200", tmp_path / "CUB_200_2011", image_size=SIZE)
    parent = load_benchmark("cub200", tmp_path, image_size=SIZE)
    assert inside.train.x.paths == parent.train.x.paths


def test_cars_split_labels_and_pixels(tmp_path):
    ds = load_benchmark("cars196", make_cars(tmp_path), image_size=SIZE)
    assert ds.train.classes == [0, 1] and ds.test.classes == [2, 3]
    assert len(ds.train) == 6 and len(ds.test) == 6  # the annotation's test flag is ignored
    assert ds.class_names[0] == "Make1 Model 2001" and len(ds.class_names) == 4
    for image, label in zip(ds.test.x[torch.arange(6)], ds.test.y.tolist(), strict=True):
        assert class_of_pixels(image) == label


def test_sop_split_follows_its_files(tmp_path):
    ds = load_benchmark("sop", make_sop(tmp_path, train=(1, 3), test=(2, 4)), image_size=SIZE)
    assert ds.train.classes == [0, 2] and ds.test.classes == [1, 3]
    assert ds.class_names == ["bicycle/1", "chair/2", "bicycle/3", "chair/4"]
    for image, label in zip(ds.test.x[torch.arange(4)], ds.test.y.tolist(), strict=True):
        assert class_of_pixels(image) == label


@pytest.mark.parametrize(
    ("name", "make", "n_classes", "n_train"),
    [("cub200", make_cub, 200, 100), ("cars196", make_cars, 196, 98)],
)
def test_the_standard_split_sizes(tmp_path, name, make, n_classes, n_train):
    """At full size: CUB's first 100 classes train, Cars' first 98 (no image files needed)."""
    ds = load_benchmark(name, make(tmp_path, n_classes, 2, images=False), check_files=False)
    assert ds.train.classes == list(range(n_train))
    assert ds.test.classes == list(range(n_train, n_classes))
    assert set(ds.train.y.tolist()).isdisjoint(ds.test.y.tolist())


def test_sop_standard_split_sizes(tmp_path):
    root = make_sop(tmp_path, range(1, 11319), range(11319, 22635), per_class=2, images=False)
    ds = load_benchmark("sop", root, check_files=False)
    assert len(ds.train.classes) == 11_318 and len(ds.test.classes) == 11_316
    assert ds.n_classes == 22_634 and ds.train.classes[-1] + 1 == ds.test.classes[0]


def test_builders_have_the_registry_shape(tmp_path):
    make_cub(tmp_path)
    for builder in (cub200, cars196, sop):
        params = inspect.signature(builder).parameters
        assert list(params)[0] == "seed"
        keyword_only = [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY]
        assert keyword_only == ["data_root", "image_size", "resize", "check_files"]
    ds = cub200(3, data_root=str(tmp_path), image_size=SIZE)
    assert ds.seed == 3 and ds.train.x.paths == load_benchmark("cub200", tmp_path).train.x.paths
    copy = ds.train.x.clone()  # the registry copies splits with x.clone()
    assert copy is not ds.train.x and copy.paths == ds.train.x.paths and copy.augment


# -- errors that say what the folder must contain ------------------------------------------------


def test_missing_data_root_names_the_option():
    with pytest.raises(DataError, match=r"pass data_root=DIR \(--data-root DIR\).*classes.txt"):
        load_benchmark("cub200", None)
    with pytest.raises(DataError, match="valid names are: cub200, cars196, sop"):
        load_benchmark("cub", "/tmp")
    assert BENCHMARKS == ("cub200", "cars196", "sop")


def test_wrong_folder_says_what_it_must_contain(tmp_path):
    with pytest.raises(DataError, match="is not a folder; it must contain car_ims/"):
        load_benchmark("cars196", tmp_path / "nowhere")
    expected = {
        "cub200": r"not a CUB-200-2011 folder: it must contain images/ \(one folder per class\), "
        r"classes.txt, images.txt and image_class_labels.txt.*Missing: images, classes.txt, "
        r"images.txt, image_class_labels.txt\.",
        "cars196": r"not a Cars196 folder: it must contain car_ims/ .* and cars_annos.mat, side "
        r"by side\. Missing: car_ims, cars_annos.mat\.",
        "sop": r"not a Stanford Online Products folder: it must contain Ebay_train.txt, "
        r"Ebay_test.txt and the image folders .*Missing: Ebay_train.txt, Ebay_test.txt\.",
    }
    for name, message in expected.items():
        with pytest.raises(DataError, match=message):
            load_benchmark(name, tmp_path)
    (tmp_path / "cars_annos.mat").write_bytes(b"")
    with pytest.raises(DataError, match="Missing: car_ims\\.$"):
        load_benchmark("cars196", tmp_path)


def test_missing_and_broken_images(tmp_path):
    root = make_cub(tmp_path)
    gone = root / "CUB_200_2011/images/001.Bird_1/Bird_1_0.png"
    gone.unlink()
    with pytest.raises(DataError, match="1 of the 12 images listed for 'cub200' are missing"):
        load_benchmark("cub200", root)
    ds = load_benchmark("cub200", root, image_size=SIZE, check_files=False)
    with pytest.raises(DataError, match="Bird_1_0.png does not exist"):
        ds.train.x[0]
    broken = root / "CUB_200_2011/images/001.Bird_1/Bird_1_1.jpg"
    broken.write_text("not a jpeg")
    with pytest.raises(DataError, match="cannot read image .*Bird_1_1.jpg.*Replace it"):
        ds.train.x.load(1, seeds=[0])


def test_malformed_files_name_the_line(tmp_path):
    root = make_cub(tmp_path)
    labels = root / "CUB_200_2011/image_class_labels.txt"
    labels.write_text(labels.read_text().replace("3 1\n", "3\n"))
    with pytest.raises(DataError, match=r"image_class_labels.txt, line 3: expected 2 fields"):
        load_benchmark("cub200", root)
    labels.write_text(labels.read_text().replace("\n3\n", "\n3 9\n"))
    with pytest.raises(DataError, match="image id 3 has class 9, which classes.txt does not list"):
        load_benchmark("cub200", root)


def test_bad_cars_annotations(tmp_path):
    (tmp_path / "car_ims").mkdir()
    savemat(tmp_path / "cars_annos.mat", {"something": np.zeros(3)})
    with pytest.raises(DataError, match="no 'annotations' struct with fields relative_im_path"):
        load_benchmark("cars196", tmp_path)
    (tmp_path / "cars_annos.mat").write_text("garbage")
    with pytest.raises(DataError, match="cannot read .*cars_annos.mat with scipy.io.loadmat"):
        load_benchmark("cars196", tmp_path)


def test_sop_classes_in_both_files_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"classes \[2\] appear in both Ebay_train.txt"):
        load_benchmark("sop", make_sop(tmp_path, train=(1, 2), test=(2, 3)))


def test_too_few_classes_on_a_side(tmp_path):
    with pytest.raises(DataError, match="fewer than 2 training classes"):
        load_benchmark("cub200", make_cub(tmp_path, n_classes=3))


# -- augmentation ---------------------------------------------------------------------------------


def test_training_augmentation_is_deterministic_given_seeds_or_a_generator(tmp_path):
    images = ImageFiles([noise_image(tmp_path / "n.png")] * 4, image_size=SIZE, augment=True)
    seeds = torch.tensor([5, 6, 7, 8])
    a = images.load(torch.arange(4), seeds=seeds)
    assert a.shape == (4, 3, SIZE, SIZE) and a.dtype == torch.float32
    assert torch.equal(a, images.load([0, 1, 2, 3], seeds=seeds))
    assert not torch.equal(a[0], a[1])  # same image, different seeds: different crops
    assert not torch.equal(a, images.load(torch.arange(4), seeds=seeds + 1))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(images.load([0, 1], generator=g1), images.load([0, 1], generator=g2))
    assert images[2].shape == (3, SIZE, SIZE)
    with pytest.raises(ValueError, match="got 1 seeds for 2 images"):
        images.load([0, 1], seeds=[3])
    with pytest.raises(IndexError, match="index 4 is not a position among 4 images"):
        images.load([4])


def test_augmentation_does_not_depend_on_how_a_batch_is_split(tmp_path):
    images = ImageFiles([noise_image(tmp_path / "n.png")] * 8, image_size=SIZE, augment=True)
    batch = torch.tensor([3, 1, 4, 0, 5, 2, 7, 6])
    seeds = augmentation_seeds(seed=0, step=12, batch_size=len(batch))
    whole = images.load(batch, seeds=seeds)
    parts = [images.load(rank_slice(batch, r, 2), seeds=rank_slice(seeds, r, 2)) for r in (0, 1)]
    assert torch.equal(torch.cat(parts), whole)
    again = batch_loader(images, [rank_slice(batch, r, 2) for r in (0, 1)],
                         [rank_slice(seeds, r, 2) for r in (0, 1)], num_workers=2)  # fmt: skip
    assert torch.equal(torch.cat(list(again)), whole)
    with pytest.raises(ValueError, match="augmented images need seeds"):
        batch_loader(images, [batch])


def test_flip_and_full_crop(tmp_path):
    """With the crop fixed to the whole image, the only randomness left is the flip."""
    path = noise_image(tmp_path / "n.png", width=SIZE, height=SIZE)
    images = ImageFiles([path], image_size=SIZE, augment=True, scale=(1, 1), ratio=(1, 1))
    plain = ImageFiles([path], image_size=SIZE, resize=SIZE)[0]
    outs = images.load([0] * 20, seeds=torch.arange(20))
    flipped = [torch.equal(o, plain.flip(-1)) for o in outs]
    unflipped = [torch.equal(o, plain) for o in outs]
    assert all(f != u for f, u in zip(flipped, unflipped, strict=True))
    assert 3 <= sum(flipped) <= 17


def test_random_resized_crop_boxes_stay_inside_and_respect_the_area():
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        left, top, right, bottom = random_resized_crop_box(60, 40, g, scale=(0.2, 0.6))
        assert 0 <= left < right <= 60 and 0 <= top < bottom <= 40
        area = (right - left) * (bottom - top) / (60 * 40)
        assert 0.15 <= area <= 0.65  # rounding of width and height aside
    # Impossible aspect ratios fall back to the centre crop with the nearest allowed ratio.
    assert random_resized_crop_box(100, 10, g, scale=(0.9, 1), ratio=(1, 1)) == (45, 0, 55, 10)


def test_eval_transform_is_the_centre_crop_and_normalised(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 255, 0), (10, 0, 30, 20))  # a green middle 20x20
    out = eval_transform(image, size=SIZE, resize=SIZE)
    assert out.shape == (3, SIZE, SIZE)
    assert class_of_pixels(out[:, 2:-2, 2:-2]) == 1  # green
    mean = tuple(round(m * 255) for m in IMAGENET_MEAN)
    flat = eval_transform(Image.new("RGB", (30, 20), mean), size=SIZE, resize=18)
    assert flat.abs().max() < 0.01  # the ImageNet mean maps to 0
    images = ImageFiles([noise_image(tmp_path / "n.png")] * 2, image_size=SIZE)
    assert images.resize == round(SIZE * 256 / 224)
    assert torch.equal(images[[0, 1]], images[[0, 1]])  # no randomness at test time
    assert repr(images) == f"ImageFiles(2 images, {SIZE}x{SIZE}, resize 18, centre crop)"


def test_image_files_refuse_bad_settings(tmp_path):
    with pytest.raises(DataError, match="image_size=4 is out of range"):
        ImageFiles(["x.png"], image_size=4)
    with pytest.raises(DataError, match="resize=10 is out of range; choose between 16"):
        ImageFiles(["x.png"], image_size=16, resize=10)
    with pytest.raises(DataError, match="scale must satisfy"):
        ImageFiles(["x.png"], scale=(0.5, 0.2))
