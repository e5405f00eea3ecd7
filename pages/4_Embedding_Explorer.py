"""Embedding Explorer: a trained model's held-out embeddings in PCA or UMAP, 2-D or 3-D, coloured
by class; pick a point to see it and its nearest neighbours (right or wrong class); put two models
side by side with Recall@1 per class.

Models come from this session's Live Training (``lt_trainer``) and Compare Losses (``cl_result``)
pages, from an uploaded checkpoint (``Trainer.save``, loaded with ``weights_only=True``), or are
an untrained model (the "before" picture). Embeddings, neighbours and projections are kept in
``st.session_state`` per model and step, so picking points redraws without recomputing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Embedding Explorer · symsynth", layout="wide")

with st.spinner("Loading the training core…"):
    import numpy as np
    import pandas as pd
    import torch

    from symsynth.metrics import nearest_neighbours, recall_at_1_per_class, retrieval_metrics
    from symsynth.train import TrainConfig, Trainer
    from symsynth.viz.explorer import (
        class_recall_figure,
        explorer_figure,
        pca_coordinates,
        thumbnails_figure,
    )
    from symsynth.viz.style import STILL_PLACEHOLDERS_CSS

st.html(f"<style>{STILL_PLACEHOLDERS_CSS}</style>")  # placeholders held still

MAX_ITEMS = 2000  # beyond this many held-out items, the trainer's fixed evaluation subset
K_MAX = 10
UNTRAINED = TrainConfig(dataset="digits", embedding_dim=8, loss="triplet", synthesis="symm")
PROJECTIONS = ("PCA", "UMAP")


@dataclass
class Model:
    """A model to explore: a label, a key that changes when its weights do, and its trainer."""

    label: str
    key: str
    load: Callable[[], Trainer]


@dataclass
class View:
    """One model's held-out items: embeddings, labels, inputs, neighbours (self excluded)."""

    label: str
    trainer: Trainer
    items: np.ndarray  # indices into the test split
    embeddings: np.ndarray
    labels: np.ndarray
    neighbours: np.ndarray  # [N, K_MAX] item positions, nearest first
    similarity: np.ndarray  # [N, K_MAX] cosine similarity
    recall_at_1: float
    class_recall: dict[int, float]

    @property
    def data_key(self) -> tuple:
        c = self.trainer.config
        return (c.dataset, sorted(c.dataset_options.items()), c.seed, len(self.items))


# ----------------------------------------------------------------------------- models


def untrained(config: TrainConfig) -> Trainer:
    return Trainer(config)


def uploaded_model() -> Model | None:
    """The checkpoint in the uploader, loaded once per file; a bad file shows why."""
    upload = st.session_state.get("ex_upload")
    if upload is None:
        st.session_state.pop("ex_uploaded", None)
        return None
    cached = st.session_state.get("ex_uploaded")
    if cached is None or cached[0] != upload.file_id:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "checkpoint.pt"
            path.write_bytes(upload.getvalue())
            try:
                trainer, error = Trainer.load(path), None
            except KeyError as err:
                trainer = None
                error = (
                    f"{upload.name} has no {err} entry: it is not a checkpoint written by "
                    "Trainer.save (a bare state_dict, e.g. the Weights download, lacks the "
                    "configuration needed to rebuild the model)."
                )
            except Exception as err:  # unpickling, a wrong architecture, a truncated file
                trainer = None
                error = f"{upload.name} could not be loaded as a symsynth checkpoint: {err}"
        cached = (upload.file_id, upload.name, trainer, error)
        st.session_state.ex_uploaded = cached
    _, name, trainer, error = cached
    if error:
        st.sidebar.error(error, icon=":material/error:")
        return None
    return Model(describe(f"upload {name}", trainer), f"upload:{upload.file_id}", lambda: trainer)


def describe(source: str, t: Trainer) -> str:
    c = t.config
    synthesis = "" if c.synthesis == "none" else f"+{c.synthesis}"
    return f"{source}: {c.loss}{synthesis} on {c.dataset}, {c.embedding_dim}-D, step {t.step_count}"


def available_models() -> list[Model]:
    state = st.session_state
    models = []
    live = state.get("lt_trainer")
    if live is not None:
        models.append(
            Model(
                describe("Live Training", live), f"live:{id(live)}:{live.step_count}", lambda: live
            )
        )
    result = state.get("cl_result")
    if result is not None:
        for r in result.runs:
            if r.weights:
                models.append(
                    Model(
                        describe(f"Compare seed {r.seed}", _Steps(r.config, r.steps)),
                        f"compare:{id(result)}:{r.name}:{r.seed}",
                        r.trainer,
                    )
                )
    upload = uploaded_model()
    if upload is not None:
        models.append(upload)
    models.append(
        Model(
            describe("untrained", _Steps(UNTRAINED, 0)), "untrained", lambda: untrained(UNTRAINED)
        )
    )
    return models


@dataclass
class _Steps:
    """What ``describe`` needs of a run that is not built yet."""

    config: TrainConfig
    step_count: int


def before_training(model: Model, trainer: Trainer) -> Model:
    """The same configuration with freshly initialised weights (the "before" picture)."""
    config = trainer.config
    return Model(
        f"{model.label.split(':')[0]}, before training (step 0)",
        f"before:{model.key}",
        lambda: untrained(config),
    )


# ----------------------------------------------------------------------------- computing


def view_of(model: Model) -> View:
    """The model's held-out embeddings and neighbours, computed once per model and step."""
    views = st.session_state.setdefault("ex_views", {})
    if model.key in views:
        return views[model.key]
    with st.spinner(f"Embedding the held-out items with {model.label}…"):
        torch.set_num_threads(1)  # tiny models: one thread is faster on a busy machine
        trainer = model.load()
        test = trainer.data.test
        items = trainer.eval_index if len(test) > MAX_ITEMS else torch.arange(len(test))
        embeddings = trainer.embed(test.x[items]).numpy()
        labels = test.y[items].numpy()
        k = min(K_MAX, len(items) - 1)
        neighbours, similarity = nearest_neighbours(embeddings, k=k)
        view = View(
            label=model.label,
            trainer=trainer,
            items=items.numpy(),
            embeddings=embeddings,
            labels=labels,
            neighbours=neighbours,
            similarity=similarity,
            recall_at_1=retrieval_metrics(embeddings, labels, ks=(1,))["recall@1"],
            class_recall=recall_at_1_per_class(embeddings, labels),
        )
    if len(views) > 8:  # keep the session small: forget the oldest views
        views.pop(next(iter(views)))
    views[model.key] = view
    return view


def coordinates(view: View, key: str, method: str, dim: int) -> np.ndarray | None:
    """The view's points in 2-D/3-D by PCA (fixed basis, instant) or UMAP (computed on demand,
    cached; None until the user asks for it)."""
    d = view.embeddings.shape[1]
    if method == "PCA" or d == dim:
        return pca_coordinates(view.embeddings, dim)  # D <= 3: the circle or sphere itself
    store = st.session_state.setdefault("ex_umap", {})
    if (key, dim) not in store:
        return None
    return store[(key, dim)]


def compute_umap(views: list[tuple[str, View]], dim: int) -> None:
    store = st.session_state.setdefault("ex_umap", {})
    with st.spinner("Computing UMAP (the first time loads umap-learn, about 10 s)…"):
        import umap  # slow to import: only when asked for

        for key, view in views:
            if (key, dim) not in store:
                reducer = umap.UMAP(n_components=dim, metric="cosine", random_state=0)
                store[(key, dim)] = reducer.fit_transform(view.embeddings)


# ----------------------------------------------------------------------------- selection


def select_from(chart_key: str) -> None:
    """on_select: the picked point (any trace: its customdata is the item position) becomes the
    query."""
    event = st.session_state.get(chart_key)
    points = (event or {}).get("selection", {}).get("points", [])
    for point in points:
        item = point.get("customdata")
        if isinstance(item, list):
            item = item[0] if item else None
        if item is None and point.get("curve_number") == 0:
            item = point.get("point_index")
        if item is not None:
            st.session_state.ex_query = int(item)
            return


def panel(view: View, key: str, side: int, query: int, k: int, method: str, dim: int) -> None:
    xy = coordinates(view, key, method, dim)
    st.markdown(f"**{view.label}** · Recall@1 {100 * view.recall_at_1:.1f}%")
    if xy is None:
        st.info("Press **Compute UMAP** to see this projection.", icon=":material/hourglass:")
        return
    neighbours = view.neighbours[query, :k]
    correct = view.labels[neighbours] == view.labels[query]
    chart_key = f"ex_chart_{side}"
    st.plotly_chart(
        explorer_figure(
            xy, view.labels, query=query, neighbours=neighbours, correct=correct,
            uirevision=f"{key}-{method}-{dim}",
        ),
        key=chart_key, on_select=lambda: select_from(chart_key), selection_mode="points",
        width="stretch",
    )  # fmt: skip
    if xy.shape[1] == 3:
        st.caption("In 3-D, type the query's item number above (hovering a point shows it).")
    neighbours_section(view, side, query, k)


def neighbours_section(view: View, side: int, query: int, k: int) -> None:
    neighbours = view.neighbours[query, :k]
    correct = view.labels[neighbours] == view.labels[query]
    data = view.trainer.data
    names = data.class_names
    st.markdown(
        f"Query: item {query}, class **{names[view.labels[query]]}**; "
        f"{int(correct.sum())} of {len(neighbours)} nearest neighbours share its class."
    )
    x = data.test.x[view.items].numpy()
    if data.is_image:
        titles = ["query"] + [
            f"{'✓' if ok else '✗'} {names[view.labels[n]]} · {s:.2f}"
            for n, ok, s in zip(neighbours, correct, view.similarity[query, :k], strict=True)
        ]
        st.plotly_chart(
            thumbnails_figure(x[[query, *neighbours]], titles, [None, *correct.tolist()]),
            key=f"ex_thumbs_{side}", width="stretch",
        )  # fmt: skip
    else:
        coords = x.reshape(len(x), -1)
        st.caption(f"query input: ({', '.join(f'{v:.3f}' for v in coords[query][:8])})")
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(neighbours) + 1),
            "item": neighbours,
            "class": [names[c] for c in view.labels[neighbours]],
            "cosine similarity": view.similarity[query, :k].round(3),
            "correct": ["✓" if ok else "✗" for ok in correct],
        }
    )
    if not data.is_image:
        table["input"] = [
            ", ".join(f"{v:.3f}" for v in row[:8]) for row in x.reshape(len(x), -1)[neighbours]
        ]
    st.dataframe(table, hide_index=True, width="stretch", key=f"ex_table_{side}")


# ----------------------------------------------------------------------------- the page

st.title("Embedding Explorer")
st.markdown(
    "Held-out classes in the embedding space of a trained model. **Click a point** to make it "
    "the query: its nearest neighbours are ringed green when they share its class and crossed "
    "orange when they do not. Put two models side by side to see where synthesis helps."
)

models = available_models()
labels = [m.label for m in models]
with st.sidebar:
    st.header("Model")
    st.file_uploader(
        "Upload a checkpoint (Trainer.save)", type=["pt", "pth", "ckpt"], key="ex_upload",
        help="A checkpoint written by Trainer.save; it carries its configuration. Loaded with "
        "torch.load(weights_only=True).",
    )  # fmt: skip
    if st.session_state.get("ex_model") not in labels:
        st.session_state.ex_model = labels[0]
    st.selectbox("Model", labels, key="ex_model")
    first = models[labels.index(st.session_state.ex_model)]
    st.toggle("Side by side with a second model", key="ex_compare")
    st.header("View")
    st.segmented_control("Projection", PROJECTIONS, key="ex_method", default="PCA", required=True)
    st.segmented_control("Dimensions", (2, 3), key="ex_dim", default=2, required=True,
                         format_func=lambda d: f"{d}-D")  # fmt: skip
    st.slider("Neighbours (k)", 1, K_MAX, 5, key="ex_k")

try:
    view = view_of(first)
except ValueError as err:  # e.g. a checkpoint whose data set cannot be rebuilt here
    st.error(f"{first.label} cannot be shown: {err}", icon=":material/error:")
    st.stop()

shown = [(first.key, view)]
if st.session_state.ex_compare:
    before = before_training(first, view.trainer)
    others = [m for m in models if m.key != first.key]
    if first.key != "untrained":
        others.append(before)
    other_labels = [m.label for m in others]
    if st.session_state.get("ex_model_2") not in other_labels:
        st.session_state.ex_model_2 = other_labels[0]
    st.sidebar.selectbox("Second model", other_labels, key="ex_model_2")
    second = others[other_labels.index(st.session_state.ex_model_2)]
    try:
        other = view_of(second)
    except ValueError as err:
        st.error(f"{second.label} cannot be shown: {err}", icon=":material/error:")
        st.stop()
    if other.data_key != view.data_key:
        st.warning(
            "The two models were evaluated on different held-out data (data set, seed or "
            "options differ), so their points are not the same items. Pick runs of the same "
            "data set and seed to compare them side by side.",
            icon=":material/warning:",
        )
    else:
        shown.append((second.key, other))

n_items = len(view.items)
st.session_state.setdefault("ex_query", 0)
if st.session_state.ex_query >= n_items:
    st.session_state.ex_query = 0
method, dim, k = st.session_state.ex_method, int(st.session_state.ex_dim), st.session_state.ex_k
top = st.columns([1, 1, 3])
top[0].number_input("Query item", 0, n_items - 1, step=1, key="ex_query")
missing = [
    (key, v) for key, v in shown if coordinates(v, key, method, dim) is None
]  # fmt: skip
if missing and top[1].button("Compute UMAP", icon=":material/scatter_plot:", type="primary"):
    compute_umap(missing, dim)
    st.rerun()
d = view.embeddings.shape[1]
if d <= 3 and (method == "PCA" or d == dim):
    shape = "circle" if d == 2 else "sphere"
    how = f"The embeddings are {d}-D, drawn as they are (on the unit {shape})."
elif method == "PCA":
    how = f"PCA of the {d}-D embeddings to {dim}-D (centred, principal directions)."
else:
    how = f"UMAP (cosine) of the {d}-D embeddings to {dim}-D."
top[2].caption(f"{n_items} held-out items of {view.trainer.data.description.rstrip('.')}. {how}")

query = int(st.session_state.ex_query)
columns = st.columns(len(shown))
for side, ((key, v), column) in enumerate(zip(shown, columns, strict=True)):
    with column:
        panel(v, key, side, query, k, method, dim)

st.subheader("Recall@1 per held-out class")
st.caption("Share of each class's items whose nearest neighbour (cosine) is of the same class.")
st.plotly_chart(
    class_recall_figure({v.label: v.class_recall for _, v in shown}, view.trainer.data.class_names),
    key="ex_class_recall",
    width="stretch",
)
