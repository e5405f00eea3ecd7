"""Make the figures and the numbers of docs/DATASETS.md.

Writes docs/img/datasets/*.png (scatter plots of the toys, thumbnail grids of digits and
glyphs; drawn with Pillow) and rewrites the block between the ``<!-- numbers:start -->`` and
``<!-- numbers:end -->`` markers of docs/DATASETS.md: sizes, generation time and the raw
baseline (nearest neighbour on the raw inputs, cosine, query excluded) on the test classes.

    .venv/bin/python scripts/make_dataset_docs.py            # everything (one to two minutes)
    .venv/bin/python scripts/make_dataset_docs.py --no-docs  # figures only, print the table
"""

from __future__ import annotations

import argparse
import colorsys
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symsynth.data import DATASETS, Dataset, clear_cache, load_dataset  # noqa: E402
from symsynth.metrics import evaluate  # noqa: E402

IMG_DIR = ROOT / "docs" / "img" / "datasets"
DOC = ROOT / "docs" / "DATASETS.md"
START, END = "<!-- numbers:start -->", "<!-- numbers:end -->"
GLYPH_SEEDS = (0, 1, 2)
BACKGROUND, INK = (255, 255, 255), (40, 40, 40)
TRAIN_BAR, TEST_BAR = (31, 119, 180), (214, 39, 40)


TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
TAB10 += ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def palette(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct colours: matplotlib's tab10 up to 10, else steps around the hue circle."""
    if n <= len(TAB10):
        return [tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in TAB10[:n]]
    colours = []
    for k in range(n):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.75, 0.85)
        colours.append((int(255 * r), int(255 * g), int(255 * b)))
    return colours


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


# --- scatter plots of the toys ----------------------------------------------------------------


def _project(ds: Dataset, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D points to draw and a depth per point (1 = front). 3-D: a view from above the equator."""
    if x.shape[1] == 2:
        return x, np.ones(len(x))
    elevation, azimuth = np.radians(25.0), np.radians(30.0)
    c, s = np.cos(azimuth), np.sin(azimuth)
    x = x @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
    ce, se = np.cos(elevation), np.sin(elevation)
    screen_y = x[:, 2] * ce - x[:, 0] * se
    depth = x[:, 0] * ce + x[:, 2] * se
    return np.stack([x[:, 1], screen_y], axis=1), depth


def scatter_png(ds: Dataset, path: Path, size: int = 420) -> None:
    """Train classes as filled dots, test classes as rings, one colour per class."""
    x = torch.cat([ds.train.x, ds.test.x]).numpy().astype(np.float64)
    y = torch.cat([ds.train.y, ds.test.y]).numpy()
    is_test = np.r_[np.zeros(len(ds.train), bool), np.ones(len(ds.test), bool)]
    points, depth = _project(ds, x)
    margin, header = 24, 30
    scale = (size - 2 * margin) / (2 * np.abs(points).max() * 1.05)
    image = Image.new("RGB", (size, size + header), BACKGROUND)
    draw = ImageDraw.Draw(image)
    centre = (size / 2, header + size / 2)
    if ds.name in ("toy-circle", "toy-sphere"):  # the unit circle, or the sphere's outline
        box = [centre[0] - scale, centre[1] - scale, centre[0] + scale, centre[1] + scale]
        draw.ellipse(box, outline=(200, 200, 200))
    colours = palette(ds.n_classes)
    for i in np.argsort(depth):  # back to front
        px, py = centre[0] + scale * points[i, 0], centre[1] - scale * points[i, 1]
        colour = colours[y[i]]
        if depth[i] < 0:  # far side of the sphere: paler
            colour = tuple(int(0.35 * v + 0.65 * 255) for v in colour)
        r = 3.2
        box = [px - r, py - r, px + r, py + r]
        if is_test[i]:
            draw.ellipse(box, outline=colour, width=2)
        else:
            draw.ellipse(box, fill=colour)
    # legend: a filled dot for training classes, a ring for test classes
    draw.text((margin, 8), ds.name, fill=INK, font=font(14))
    x0 = margin + 110
    draw.ellipse([x0, 12, x0 + 8, 20], fill=INK)
    draw.text((x0 + 14, 8), f"{len(ds.train.classes)} train classes", fill=INK, font=font(14))
    x0 += 150
    draw.ellipse([x0, 12, x0 + 8, 20], outline=INK, width=2)
    draw.text((x0 + 14, 8), f"{len(ds.test.classes)} test classes", fill=INK, font=font(14))
    image.save(path, optimize=True)


# --- thumbnail grids ----------------------------------------------------------------------------


def grid_png(
    rows: list[tuple[str, bool, np.ndarray]], path: Path, zoom: int, title: str, label_width: int
) -> None:
    """One row per class: (label, is_test, images [n, 1, H, W] in [0, 1])."""
    n_cols = max(len(images) for _, _, images in rows)
    h, w = rows[0][2].shape[-2:]
    cell, gap, header = h * zoom, 2, 26
    width = label_width + n_cols * (w * zoom + gap)
    height = header + len(rows) * (cell + gap)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((6, 5), title, fill=INK, font=font(14))
    for r, (label, is_test, images) in enumerate(rows):
        top = header + r * (cell + gap)
        draw.rectangle([0, top, 5, top + cell - 1], fill=TEST_BAR if is_test else TRAIN_BAR)
        draw.text((10, top + cell / 2 - 7), label, fill=INK, font=font(12))
        for c, pixels in enumerate(images):
            tile = Image.fromarray(np.uint8(np.round(255 * (1 - pixels[0]))))  # dark ink
            tile = tile.resize((w * zoom, cell), Image.Resampling.NEAREST)
            image.paste(tile, (label_width + c * (w * zoom + gap), top))
    image.save(path, optimize=True)


def class_rows(ds: Dataset, classes: list[int], per_row: int) -> list[tuple[str, bool, np.ndarray]]:
    rows = []
    for c in classes:
        split = ds.test if c in ds.test.classes else ds.train
        images = split.x[split.y == c][:per_row].numpy()
        rows.append((ds.class_names[c], split is ds.test, images))
    return rows


def glyph_sheet(ds: Dataset, path: Path, zoom: int = 2) -> None:
    """One sample of each of the first 100 test classes, 10 × 10."""
    firsts = [ds.test.x[ds.test.y == c][0].numpy() for c in ds.test.classes[:100]]
    rows = [
        (f"{ds.test.classes[10 * r]}+", True, np.stack(firsts[10 * r : 10 * r + 10]))
        for r in range(10)
    ]
    grid_png(rows, path, zoom, "glyphs: one sample of each of 100 test classes", label_width=46)


# --- numbers ------------------------------------------------------------------------------------


def measure(name: str, seed: int = 0) -> dict:
    clear_cache()
    start = time.perf_counter()
    ds = load_dataset(name, seed=seed)
    seconds = time.perf_counter() - start
    raw = evaluate(ds.test.x.flatten(1), ds.test.y)
    return {"ds": ds, "seconds": seconds, **raw}


def table(results: dict[str, list[dict]]) -> str:
    lines = [
        "| dataset | input | classes (train / test) | items (train / test) | generated in |"
        " raw R@1 | raw R@8 | raw MAP@R | raw NMI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        ds = runs[0]["ds"]

        def cell(key: str, runs: list[dict] = runs) -> str:
            values = [r[key] for r in runs]
            if len(values) == 1:
                return f"{values[0]:.3f}"
            return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"

        shape = "×".join(map(str, ds.input_shape))
        seconds = statistics.mean(r["seconds"] for r in runs)
        classes = f"{ds.n_classes} ({len(ds.train.classes)} / {len(ds.test.classes)})"
        lines.append(
            f"| `{name}` | {shape} | {classes}"
            f" | {len(ds.train)} / {len(ds.test)} | {seconds:.2f} s | {cell('recall@1')}"
            f" | {cell('recall@8')} | {cell('map@r')} | {cell('nmi')} |"
        )
    seeds = ", ".join(map(str, GLYPH_SEEDS))
    lines += [
        "",
        f"Glyphs: mean ± standard deviation over seeds {seeds}; all other rows use seed 0."
        f" Generation times are cold (cache cleared) on the machine that ran the script"
        f" ({torch.get_num_threads()} CPU threads); the data sets are cached in memory after that.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/DATASETS.md")
    args = parser.parse_args()
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for name in DATASETS:
        seeds = GLYPH_SEEDS if name == "glyphs" else (0,)
        results[name] = [measure(name, seed) for seed in seeds]
        print(f"{name}: R@1 {[round(r['recall@1'], 3) for r in results[name]]}", flush=True)
    for name in ("toy-circle", "toy-sphere", "blobs", "rings", "spirals"):
        scatter_png(results[name][0]["ds"], IMG_DIR / f"{name}.png")
    digits = results["digits"][0]["ds"]
    grid_png(
        class_rows(digits, list(range(10)), 16),
        IMG_DIR / "digits.png",
        zoom=4,
        title="digits: blue bar = train classes, red bar = test classes",
        label_width=24,
    )
    glyphs = results["glyphs"][0]["ds"]
    grid_png(
        class_rows(glyphs, [0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105], 16),
        IMG_DIR / "glyphs.png",
        zoom=2,
        title="glyphs: 16 samples of 6 train (blue) and 6 test (red) classes",
        label_width=70,
    )
    glyph_sheet(glyphs, IMG_DIR / "glyphs-test-classes.png")
    text = table(results)
    print(text)
    if not args.no_docs:
        doc = DOC.read_text()
        if START not in doc or END not in doc:
            raise SystemExit(
                f"{DOC} lacks the markers {START} … {END}; add them where the table goes"
            )
        head, rest = doc.split(START, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}")
        print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
