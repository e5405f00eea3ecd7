"""The paper's Figure 1 and its α/β ablation as one interactive HTML page (opens offline).

Two points of class A (a, p) and two of class B (n₁, n₂) on the unit circle, and again on the
sphere. Symmetrical Synthesis reflects a about the line 0→p and p about 0→a (red, dashed);
Embedding Expansion's interpolated points are shown for contrast (green diamonds). The heatmap
holds the 4 × 4 group similarities; the outlined cell is the hardest negative pair that hard
negative pair mining picks. Then the two knobs of the paper's ablation: α moves a synthetic
point along the chord (α = 1: the foot of the perpendicular, α = 2: the mirror image), β
scales it radially. Every point is computed by ``symsynth.synthesis`` and ``symsynth.mining``
(through ``symsynth.viz``); this script only lays the figures out.

    python demos/reflection_figure.py --out reflection.html
    python demos/reflection_figure.py --angles 0,40,95,130 --out reflection.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, not installed

from symsynth.synthesis import symmetric_points  # noqa: E402
from symsynth.viz import (  # noqa: E402
    circle_point,
    reflection_figure,
    reflection_scene,
    similarity_heatmap,
    sphere_point,
)
from symsynth.viz.compare import html_page  # noqa: E402
from symsynth.viz.style import GUIDE, SYNTHETIC, base_layout, class_color  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALPHAS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
BETAS = (0.5, 0.75, 1.0, 1.25, 1.5)

INTRO = """Symmetrical Synthesis (Gu & Ko, AAAI 2020) makes hard negatives without a generator \
network: each point of a positive pair is reflected about the other, sym(x; a) = β (x + α \
(proj_a(x) − x)), here with the paper's α = 2, β = 1, so the synthetic point keeps the norm \
of x and its similarity to a. Hard negative pair mining then uses, between two classes, the \
closest pair among all original and synthetic points.

Drag to rotate the sphere; hover for names; use the sliders to move α and β."""


def _angles(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected four angles in degrees like 0,40,95,130, got {text!r}"
        ) from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(
            f"expected four angles (a, p, n1, n2), got {len(values)} in {text!r}"
        )
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python demos/reflection_figure.py",
        description="Write the paper's Figure 1 (reflection and hard negative pair mining, on "
        "a circle and a sphere) and the alpha/beta ablation as one standalone HTML page.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--angles",
        type=_angles,
        default=(0.0, 40.0, 95.0, 130.0),
        help="angles in degrees on the circle of a, p, n1, n2",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "demos" / "reflection.html")
    return parser


def stepped_figure(figures: list[go.Figure], labels: list[str], prefix: str) -> go.Figure:
    """One figure with a slider that shows one of ``figures`` at a time; the layout is the
    first figure's."""
    fig = go.Figure(layout=figures[0].layout)
    owner = []  # which figure each trace came from
    for i, f in enumerate(figures):
        for trace in f.data:
            trace.visible = i == 0
            fig.add_trace(trace)
            owner.append(i)
    steps = [
        {"label": label, "method": "update", "args": [{"visible": [o == i for o in owner]}]}
        for i, label in enumerate(labels)
    ]
    fig.update_layout(
        sliders=[{"steps": steps, "currentvalue": {"prefix": prefix}, "pad": {"t": 40}}]
    )
    return fig


def ablation_figure(a: np.ndarray, p: np.ndarray) -> go.Figure:
    """sym(a; p) for a grid of α (along the chord) and β (radial scaling), on one picture."""
    x, axis = torch.tensor(a), torch.tensor(p)
    t = np.linspace(0, 2 * np.pi, 181)
    fig = go.Figure(
        go.Scatter(
            x=np.cos(t), y=np.sin(t), mode="lines", line={"color": GUIDE, "width": 1},
            hoverinfo="skip", showlegend=False,
        )
    )  # fmt: skip
    reach = 1.6 * float(np.linalg.norm(a))
    u = p / np.linalg.norm(p)
    fig.add_trace(
        go.Scatter(
            x=[-reach * u[0], reach * u[0]], y=[-reach * u[1], reach * u[1]], mode="lines",
            line={"color": class_color(0), "dash": "dot", "width": 1},
            name="axis of symmetry 0→p", hoverinfo="skip",
        )
    )  # fmt: skip
    for beta in BETAS:
        pts = torch.stack([symmetric_points(x, axis, alpha=al, beta=beta) for al in ALPHAS])
        pts = pts.numpy()
        fig.add_trace(
            go.Scatter(
                x=pts[:, 0], y=pts[:, 1], mode="lines+markers+text",
                text=[f"α={al:g}" if beta == 1.0 else "" for al in ALPHAS],
                textposition="top right",
                marker={"size": 11 if beta == 1.0 else 7, "color": SYNTHETIC,
                        "opacity": 1.0 if beta == 1.0 else 0.45},
                line={"color": SYNTHETIC, "width": 2 if beta == 1.0 else 1,
                      "dash": "solid" if beta == 1.0 else "dot"},
                name=f"β = {beta:g}",
                customdata=np.array(ALPHAS),
                hovertemplate=f"α = %{{customdata}}, β = {beta:g}<extra></extra>",
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[a[0], p[0]], y=[a[1], p[1]], mode="markers+text", text=["a", "p"],
            textposition="top center", textfont={"size": 15},
            marker={"size": 13, "color": class_color(0)}, name="a, p",
        )
    )  # fmt: skip
    fig.update_layout(
        **base_layout(
            title={"text": "sym(a; p) for α ∈ {0 … 3} (along each line) and β (one line each)"},
            height=560,
            xaxis={"range": [-reach, reach], "showgrid": False, "constrain": "domain"},
            yaxis={"range": [-reach, reach], "showgrid": False, "scaleanchor": "x"},
        )
    )
    return fig


def build_page(angles: tuple[float, float, float, float]) -> str:
    """The whole HTML page for a, p, n₁, n₂ at ``angles`` (degrees) on the circle."""
    circle = np.stack([circle_point(t) for t in angles])
    # On the sphere: the same azimuths, with the pairs lifted off the equator.
    sphere = np.stack(
        [sphere_point(t, e) for t, e in zip(angles, (10.0, 35.0, -5.0, 25.0), strict=True)]
    )
    symm, ee = reflection_scene(circle, "symm"), reflection_scene(circle, "ee")
    symm3, ee3 = reflection_scene(sphere, "symm"), reflection_scene(sphere, "ee")
    alpha_figs = [
        reflection_figure(reflection_scene(circle, "symm", alpha=al), height=520) for al in ALPHAS
    ]
    beta_figs = [
        reflection_figure(reflection_scene(circle, "symm", beta=be), height=520) for be in BETAS
    ]
    figures = [
        ("Figure 1 on the circle: reflection and the mined negative pair",
         reflection_figure(symm, contrast=ee, title="Symm (red) and EE (green) on S¹")),
        ("The 4 × 4 group similarities (outlined: the pair mining chooses)",
         similarity_heatmap(symm)),
        ("Figure 1 on the sphere: a′ and p′ stay on the great circle through a and p",
         reflection_figure(symm3, contrast=ee3, title="Symm (red) and EE (green) on S²")),
        ("Ablation: α moves along the chord (β = 1)",
         stepped_figure(alpha_figs, [f"{al:g}" for al in ALPHAS], "α = ")),
        ("Ablation: β scales radially (α = 2)",
         stepped_figure(beta_figs, [f"{be:g}" for be in BETAS], "β = ")),
        ("Ablation, all at once: sym(a; p) over α and β", ablation_figure(circle[0], circle[1])),
    ]  # fmt: skip
    readouts = symm.readouts()
    facts = " ".join(
        f"{r['point']}: ‖x‖ = {r['‖x‖']:.3f}, ‖x′‖ = {r['‖x′‖']:.3f}; x·axis = {r['x·axis']:.3f},"
        f" x′·axis = {r['x′·axis']:.3f}."
        for r in readouts
    )
    mined = " and ".join(symm.names[i] for i in symm.mined_rows)
    intro = (
        f"{INTRO}\n\nWith a, p, n₁, n₂ at {', '.join(f'{t:g}°' for t in angles)}: {facts}"
        f" Mining picks the pair {mined} (similarity {symm.mined_score:.3f});"
        f" Embedding Expansion's points (green diamonds) lie on the arc between a and p."
    )
    return html_page(figures, "Symmetrical Synthesis: Figure 1 and the α/β ablation", intro)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_page(args.angles), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
