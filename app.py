"""symsynth — the app (`streamlit run app.py`): Home, what Symmetrical Synthesis is in one
screen, then every page in pages/ (a new script there appears in the sidebar and in Home's links
by itself; ICONS only decorates it)."""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from symsynth.viz import (
    STILL_PLACEHOLDERS_CSS,
    circle_point,
    reflection_figure,
    reflection_scene,
    similarity_heatmap,
)

PAPER = "https://arxiv.org/abs/2001.11658"
PAGES = sorted(Path(__file__).parent.joinpath("pages").glob("*.py"))
ICONS = {
    "1_Reflection_Lab": ":material/flip:",
    "2_Live_Training": ":material/play_circle:",
    "3_Compare_Losses": ":material/compare_arrows:",
    "4_Embedding_Explorer": ":material/scatter_plot:",
}


@st.cache_resource(show_spinner=False)
def warm_up_training_core() -> threading.Thread:
    """Once per server process, import the training core in a background thread (torch, and the
    optimiser's one-off import of torch._dynamo: about 5 s together on 2 cores) and load the
    compiled mining loops (about 1 s; compiling them, the first time on a machine, about 16 s), so a
    visitor who starts here does not wait for it on the training pages. The thread never calls
    streamlit."""

    def work() -> None:
        import torch

        import symsynth.train  # noqa: F401  (the import is the work)
        from symsynth.mining import warm_up

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        warm_up()

    # scikit-learn imports pandas, and plotly reads pandas from sys.modules without the import
    # lock while it validates a figure: a pandas still being imported by the thread reached the
    # page's figures half-initialised ("partially initialized module 'pandas'", seen in tests)
    import pandas  # noqa: F401

    thread = threading.Thread(target=work, name="symsynth-warm-up", daemon=True)
    thread.start()
    return thread


def home() -> None:
    """The front page: the two steps of Symm as small live figures, the paper, the pages."""
    st.set_page_config(page_title="symsynth · Symmetrical Synthesis", layout="wide")
    st.html(f"<style>{STILL_PLACEHOLDERS_CSS}</style>")  # placeholders held still
    warm_up_training_core()
    st.title("Symmetrical Synthesis for deep metric learning")
    st.markdown(
        "Metric learning pulls same-class embeddings together and pushes other classes away, and "
        "it learns most from **hard negatives**. *Symmetrical Synthesis* (Symm) makes hard "
        "negatives for free, with plain algebra in the embedding space: no generator network, no "
        "extra hyper-parameter, plug-and-play for any pair-based loss."
    )

    spread = st.slider(
        "Angle between the positive pair a and p (degrees)",
        min_value=5,
        max_value=120,
        value=50,
        key="home_spread",
        help="Class A's pair is a and p; class B's pair is n₁ and n₂, fixed.",
    )
    scene = reflection_scene(
        [circle_point(a) for a in (20, 20 + spread, 150, 215)],
    )

    left, right = st.columns(2)
    with left:
        st.subheader("1 · Reflect")
        st.markdown(
            "Each point of a positive pair is mirrored about the line through the other: "
            "a′ = sym(a; p) and p′ = sym(p; a) keep their norm and their similarity to the axis, "
            "and land closer to other classes."
        )
        st.plotly_chart(
            reflection_figure(scene, mined=False, height=430), key="home_reflect", width="stretch"
        )
    with right:
        st.subheader("2 · Mine the hardest negative pair")
        st.markdown(
            "Each class now has a group of four points. Between two classes the loss uses the "
            "closest pair over all 4 × 4 combinations, original or synthetic (outlined)."
        )
        st.plotly_chart(
            reflection_figure(scene, construction=False, height=430),
            key="home_mine",
            width="stretch",
        )
        st.plotly_chart(similarity_heatmap(scene), key="home_heatmap", width="stretch")

    st.caption(
        f"G. Gu and B. Ko, *Symmetrical Synthesis for Deep Metric Learning*, AAAI 2020 "
        f"([arXiv 2001.11658]({PAPER})). Every number on these pages comes from the `symsynth` "
        "package, the same code the command line `python -m symsynth train` runs."
    )

    st.subheader("Explore")
    for path in PAGES:
        st.page_link(f"pages/{path.name}")  # labelled with its title below


st.navigation(
    [
        st.Page(home, title="Home", icon=":material/home:", default=True),
        *(st.Page(f"pages/{path.name}", icon=ICONS.get(path.stem)) for path in PAGES),
    ]
).run()
