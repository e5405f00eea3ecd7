"""Live Training: press Play and watch Symm work — synthetic points, mined negatives, classes
pulling apart — with live loss, held-out Recall@1 / MAP@R and the synthetic share.

Training runs in short chunks inside an ``st.fragment(run_every=...)`` while the session plays;
the trainer, its snapshots and the projection live in ``st.session_state`` (one per browser
session). The configuration lives in the URL, so a link opens the same setup.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Live Training · symsynth", layout="wide")

with st.spinner("Loading the training core…"):
    import torch

    from symsynth.data import DATASETS, dataset_options, load_dataset
    from symsynth.losses import LOSSES
    from symsynth.synthesis import METHODS
    from symsynth.train import MODELS, TrainConfig, Trainer, TrainingDiverged
    from symsynth.viz import (
        STILL_PLACEHOLDERS_CSS,
        FixedProjection,
        figure_json,
        frame_from_snapshot,
        history_figure,
        image_grid_figure,
        input_space_figure,
        live_embedding_dict,
        replay_figure,
        standalone_html,
    )

TICK_SECONDS = 0.25  # one chunk of training and one redraw per tick while playing
HISTORY_SECONDS = 1.5  # while playing, the live charts redraw at most this often
SNAPSHOT_EVERY = 10  # steps between recorded snapshots (and the Step button's stride)
MAX_FRAMES = 240  # snapshots kept for the replay (thinned evenly beyond that)
FRAME_BYTES = 16 * 2**20  # ... and at most this many bytes of them (64-D+ snapshots are big)
CHUNK_SECONDS = 2.0  # a tick stops training after this long and redraws (Pause stays prompt)
RUN_SECONDS = 600  # training time one run may use; then it ends like a finished run
REPLAY_FRAMES = 60  # frames in the client-side replay animation
LIVE_FRAMES = 5  # at most this many of a tick's snapshots are played by the live view
DIMS = (2, 3, 8, 16, 32, 64, 128)
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
STEP_BUDGETS = (200, 500, 1000, 2000, 5000, 10000)
SPEEDS = (5, 10, 20, 30, 50, 100)
DATASET_LABELS = {
    "toy-circle": "toy circle: clusters on a circle (2-D)",
    "toy-sphere": "toy sphere: clusters on a sphere (3-D)",
    "blobs": "blobs: Gaussian blobs in input space",
    "rings": "rings: concentric rings in input space",
    "spirals": "spirals: interleaved spirals in input space",
    "digits": "digits: 8×8 handwritten digits (train 0-4, test 5-9)",
    "glyphs": "glyphs: 200 procedural glyph classes",
}
LOSS_LABELS = {
    "contrastive": "contrastive",
    "triplet": "triplet",
    "semihard_triplet": "semi-hard triplet",
    "lifted": "lifted structure",
    "npair": "N-pair",
    "angular": "angular",
}

# URL parameter -> (session key, default, parse)
CHOICES = {
    "dataset": ("lt_dataset", "toy-sphere", DATASETS),
    "model": ("lt_model", "auto", MODELS),
    "loss": ("lt_loss", "triplet", tuple(LOSSES)),
    "synthesis": ("lt_synthesis", "symm", METHODS),
    "dim": ("lt_dim", 3, DIMS),
    "lr": ("lt_lr", 1e-2, LRS),
    "steps": ("lt_steps", 1000, STEP_BUDGETS),
    "speed": ("lt_speed", 100, SPEEDS),
    "k": ("lt_k", 2, (2, 4, 6, 8)),
}
INTEGERS = {"p": ("lt_p", 4, 2, 64), "seed": ("lt_seed", 0, 0, 2**31 - 1)}


# ----------------------------------------------------------------------------- URL <-> widgets


def _choice(raw: str | None, options: tuple, default):
    for option in options:
        if (raw is not None and str(option) == raw) or _same_number(raw, option):
            return option
    return default


def _same_number(raw: str | None, option) -> bool:
    if raw is None or isinstance(option, str):
        return False
    try:
        return math.isclose(float(raw), float(option))
    except ValueError:
        return False


def _integer(raw: str | None, default: int, lo: int, hi: int) -> int:
    try:
        value = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return default
    return min(max(value, lo), hi)


def load_url_state() -> list[str]:
    """Give every control without a value one from the URL (or its default); return a note for
    every URL value that was not taken as it stood."""
    q, state, notes = st.query_params, st.session_state, []
    for name, (key, default, options) in CHOICES.items():
        if key in state:
            continue
        raw = q.get(name)
        state[key] = _choice(raw, options, default)
        if raw is not None and str(state[key]) != raw and not _same_number(raw, state[key]):
            shown = ", ".join(f"{o:g}" if isinstance(o, float) else str(o) for o in options)
            notes.append(f"`{name}={raw[:40]}` is not one of {shown}; using {state[key]}.")
    for name, (key, default, lo, hi) in INTEGERS.items():
        if key in state:
            continue
        raw = q.get(name)
        state[key] = _integer(raw, default, lo, hi)
        if raw is not None and not _same_number(raw, state[key]):
            notes.append(
                f"`{name}={raw[:40]}` is not a whole number from {lo} to {hi}; using {state[key]}."
            )
    return notes


def write_url_state() -> None:
    state = st.session_state
    params = {name: str(state[key]) for name, (key, _, _) in CHOICES.items()}
    params.update({name: str(state[key]) for name, (key, _, _, _) in INTEGERS.items()})
    st.query_params.from_dict(params)


def current_config() -> TrainConfig:
    s = st.session_state
    return TrainConfig(
        dataset=s.lt_dataset,
        model=s.lt_model,
        embedding_dim=int(s.lt_dim),
        loss=s.lt_loss,
        synthesis=s.lt_synthesis,
        lr=float(s.lt_lr),
        p=int(s.lt_p),
        k=int(s.lt_k),
        max_steps=int(s.lt_steps),
        seed=int(s.lt_seed),
        eval_every=50,
        snapshot_every=SNAPSHOT_EVERY,
    )


# ----------------------------------------------------------------------------- training state


def reset() -> None:
    """Forget the run; the next draw builds a fresh trainer from the controls."""
    for key in (
        "lt_trainer", "lt_frames", "lt_share", "lt_projection", "lt_error", "lt_replay",
        "lt_seconds", "lt_history_json", "lt_chunk",
    ):  # fmt: skip
        st.session_state.pop(key, None)
    st.session_state.lt_playing = False


def trainer() -> Trainer | None:
    """This session's trainer for the current controls (rebuilt when they change), or None
    with the reason in ``lt_error`` when the controls describe no valid run."""
    state = st.session_state
    config = current_config()
    existing = state.get("lt_trainer")
    if existing is not None and existing.config == config:
        return existing
    reset()
    try:
        with st.spinner(f"Preparing {config.dataset} and a fresh model…"):
            state.lt_trainer = Trainer(config)
    except ValueError as err:  # includes DataError: a bad combination of controls
        state.lt_error = f"This setup cannot train: {err}"
        return None
    state.lt_frames, state.lt_share = [], []
    state.lt_projection = FixedProjection()
    return state.lt_trainer


def frame_limit(snapshot) -> int:
    """How many snapshots a session keeps: MAX_FRAMES, fewer when they would pass FRAME_BYTES
    (a 128-D snapshot is ~0.2 MB), never fewer than the replay shows."""
    size = sum(
        value.nbytes
        for value in (getattr(snapshot, f.name) for f in dataclasses.fields(snapshot))
        if isinstance(value, np.ndarray)
    )
    return max(REPLAY_FRAMES, min(MAX_FRAMES, FRAME_BYTES // max(size, 1)))


def record(snapshots) -> None:
    state = st.session_state
    frames = state.lt_frames
    frames.extend(snapshots)
    state.lt_share.extend((s.step, s.synthetic_share) for s in snapshots)
    if frames and len(frames) > frame_limit(frames[-1]):
        state.lt_frames = frames[:-1:2] + frames[-1:]  # the first, the last, every other between


def out_of_time() -> bool:
    return st.session_state.get("lt_seconds", 0.0) >= RUN_SECONDS


def advance(t: Trainer, n_steps: int) -> list:
    """Train ``n_steps`` more steps (or to the end, or for CHUNK_SECONDS, or until the run's
    RUN_SECONDS are used up) and return the snapshots recorded; a divergence stops play with
    its message."""
    state = st.session_state
    start = time.monotonic()
    try:
        snapshots = t.run(n_steps, deadline=start + CHUNK_SECONDS)  # a slow setup: redraw sooner
    except TrainingDiverged as err:
        snapshots = err.snapshots  # what was recorded before it diverged
        state.lt_error = str(err)
        state.lt_playing = False
    finally:
        state.lt_seconds = state.get("lt_seconds", 0.0) + (time.monotonic() - start)
    record(snapshots)
    if t.done or out_of_time():
        state.lt_playing = False
    return snapshots


def train_first() -> None:
    """A whole-page run while playing (the Play click's, or a control changed mid-play) trains
    its chunk here, before the page sends its first element, and leaves it in ``lt_chunk`` for
    the live view to draw; the fragment's own reruns train for themselves. Streamlit remounts
    the elements that a whole-page run sends after a pause in its middle: the live charts blinked
    on Play whenever the first chunk was slow (on a minimal page: 7 of 9 runs with a 1.5 s pause
    there, none of 6 with it before the first element)."""
    state = st.session_state
    t = state.get("lt_trainer")
    # (a trainer for other controls is replaced by the page, and the new one does not play)
    playing = state.lt_playing and t is not None and t.config == current_config()
    if playing and not state.get("lt_error"):
        state.lt_chunk = advance(t, int(state.lt_speed))


def fit_p_to_dataset() -> None:
    """A new dataset may have fewer training classes than P: offer the most it can take."""
    state = st.session_state
    try:
        n_train = len(load_dataset(state.lt_dataset, int(state.lt_seed)).train.classes)
    except ValueError:
        return  # the page shows the dataset's own error
    state.lt_p = max(2, min(int(state.lt_p), n_train))


def play() -> None:
    st.session_state.lt_playing = True


def pause() -> None:
    st.session_state.lt_playing = False


def step_once() -> None:
    t = st.session_state.get("lt_trainer")
    if t is not None and not st.session_state.get("lt_error") and not out_of_time():
        st.session_state.lt_playing = False
        advance(t, SNAPSHOT_EVERY)


def cap_torch_threads() -> None:
    """Torch computes on one thread. The models here are tiny: one thread is several times faster
    than two fighting for the same cores (measured: 100 toy steps 0.8 s vs 12 s on a busy 2-core
    machine), and one session's training cannot take the cores from the others. torch's setting is
    process-wide for threads started later (each script run's thread) but per thread once a thread
    has computed, so this checks the running thread and sets it only when it differs: in practice
    once per server process, again only if other code (a compare run) changed it."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


# ----------------------------------------------------------------------------- drawing


@st.cache_resource
def _live_figure_component():
    """Registered once per server process (a renderer holds no session data)."""
    js = Path(__file__).with_name("live_figure.js").read_text()
    return st.components.v2.component("symsynth_live_figure", js=js, isolate_styles=False)


def live_chart(figure_json_text: str, key: str) -> None:
    """Draw a figure (plotly JSON) in a chart that updates in place: the user's zoom and 3-D
    camera survive every update (st.plotly_chart would remount and reset them), and the browser
    skips a figure identical to the one it shows; see live_figure.js."""
    _live_figure_component()(data=figure_json_text, key=key, width="stretch")


def history_json(t: Trainer) -> str:
    """The live charts as JSON, rebuilt while playing at most every HISTORY_SECONDS: they change
    little per tick, and redrawing three subplots costs the browser about as much as a frame
    of the embedding view."""
    state = st.session_state
    built_at, text = state.get("lt_history_json", (-math.inf, ""))
    now = time.monotonic()
    if state.lt_playing and now - built_at < HISTORY_SECONDS:
        return text
    rows = t.history
    evals = [r for r in rows if "recall@1" in r]
    share = state.lt_share
    text = figure_json(
        history_figure(
            steps=[r["step"] for r in rows],
            losses=[r["loss"] for r in rows],
            eval_steps=[r["step"] for r in evals],
            recall_at_1=[r["recall@1"] for r in evals],
            map_at_r=[r["map@r"] for r in evals],
            share_steps=[s for s, _ in share],
            synthetic_share=[v for _, v in share],
        )
    )
    state.lt_history_json = (now, text)
    return text


def status_line(t: Trainer) -> str:
    rows = t.history
    parts = [f"step **{t.step_count}** / {t.max_steps}", f"epoch {t.epoch}"]
    if rows:
        parts.append(f"loss {rows[-1]['loss']:.4f}")
    evals = [r for r in rows if "recall@1" in r]
    if evals:
        parts.append(f"held-out Recall@1 {evals[-1]['recall@1']:.3f}")
        parts.append(f"MAP@R {evals[-1]['map@r']:.3f}")
    if st.session_state.lt_playing:
        parts.append("▶ training")
    elif t.done or out_of_time():
        parts.append("finished")
    return " · ".join(parts)


def live_view(history_box) -> None:
    """One tick: train a chunk while playing, then redraw the embedding, the status and (in
    ``history_box``, below the input space) the live charts."""
    state = st.session_state
    t = state.lt_trainer
    playing = state.lt_playing
    chunk = state.pop("lt_chunk", None)  # trained by train_first in a whole-page run
    if chunk is None:
        chunk = advance(t, int(state.lt_speed)) if playing and not state.get("lt_error") else []
    if state.get("lt_error"):
        st.error(state.lt_error, icon=":material/error:")
    elif out_of_time() and not t.done:
        st.warning(
            f"This run has used its {RUN_SECONDS / 60:g} minutes of training, the most one run "
            "may take on this shared server. **Reset** starts another.",
            icon=":material/timer_off:",
        )
    st.markdown(status_line(t))
    if state.lt_frames:
        dim = t.config.embedding_dim
        shown = [chunk[i] for i in _even(len(chunk), LIVE_FRAMES)] or state.lt_frames[-1:]
        frames = [frame_from_snapshot(s, state.lt_projection) for s in shown]
        title = "embedding of held-out classes" + (
            "" if frames[-1].manifold else f" (fixed PCA view of {dim}-D)"
        )
        figure = live_embedding_dict(frames, title=title)  # the browser plays the chunk's frames
        live_chart(figure_json(figure), key=f"lt_embedding_{min(dim, 4)}")
    else:
        st.info("Press **Play** or **Step** to start training.", icon=":material/play_arrow:")
    with history_box:
        live_chart(history_json(t), key="lt_history")
    if playing and not state.lt_playing:  # finished or diverged: stop ticking, show the replay
        st.rerun(scope="app")


def replay_section():
    """The finished or paused run as a client-side animation; returns its figure (or None)."""
    frames = st.session_state.lt_frames
    if len(frames) < 2:
        return None
    st.subheader("Replay")
    st.caption(
        "The recorded snapshots as an animation that plays in your browser, in a fixed view "
        "(for more than 3 dimensions, the PCA basis of the last snapshot)."
    )
    built_for, figure = st.session_state.get("lt_replay", (None, None))
    if built_for != frames[-1].step:  # rebuilt only when training went on
        projection = FixedProjection().fit(frames[-1].probe_embeddings)
        pick = [frames[i] for i in _even(len(frames), REPLAY_FRAMES)]
        figure = replay_figure([frame_from_snapshot(s, projection) for s in pick])
        st.session_state.lt_replay = (frames[-1].step, figure)
    st.plotly_chart(figure, key="lt_replay_chart", width="stretch")
    return figure


def _even(n: int, k: int) -> list[int]:
    """Up to k indices evenly spread over range(n), first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def downloads(t: Trainer, replay) -> None:
    config = t.config.to_dict()
    name = f"symsynth-{t.config.dataset}-{t.config.loss}-{t.config.synthesis}-seed{t.config.seed}"

    def weights() -> bytes:
        buffer = io.BytesIO()
        torch.save(t.model.state_dict(), buffer)
        return buffer.getvalue()

    cols = st.columns(4)
    cols[0].download_button(
        "Config (JSON)", json.dumps(config, indent=2), f"{name}.json", "application/json",
        on_click="ignore", icon=":material/settings:", width="stretch",
    )  # fmt: skip
    cols[1].download_button(
        "Metrics (CSV)", pd.DataFrame(t.history).to_csv(index=False), f"{name}.csv", "text/csv",
        on_click="ignore", icon=":material/table:", width="stretch",
        disabled=not t.history,
    )  # fmt: skip
    cols[2].download_button(
        "Weights (state_dict)", weights, f"{name}.pt", "application/octet-stream",
        on_click="ignore", icon=":material/download:", width="stretch",
    )  # fmt: skip
    cols[3].download_button(
        "Replay (HTML)",
        (lambda: standalone_html(replay)) if replay else "",
        f"{name}-replay.html", "text/html", on_click="ignore", icon=":material/movie:",
        width="stretch", disabled=replay is None,
    )  # fmt: skip


# ----------------------------------------------------------------------------- the page

url_notes = load_url_state()
st.session_state.setdefault("lt_playing", False)
cap_torch_threads()
train_first()

# Streamlit fades an element as stale (to opacity 0.33, after 0.5 s) until the running script sends
# it again; every run while playing trains before it draws (train_first, live_view), so the live
# view and its charts would fade and flash back on every tick, and the whole page on Play with a
# slow setup. This page is live by design: never faded. (And the placeholders of elements still
# loading are held still: see STILL_PLACEHOLDERS_CSS.)
st.html(
    "<style>[data-stale='true'] { opacity: 1 !important; transition: none !important; }"
    f" {STILL_PLACEHOLDERS_CSS}</style>"
)
st.title("Live Training")
st.markdown(
    "Train a small embedder and watch the **synthetic points** (red rings, dashed in 2-D) and the "
    "**mined negative pairs** (red when a synthetic point was chosen) move with the held-out "
    "classes. Switch synthesis between *none*, *symm* and *ee* to compare."
)

with st.sidebar:
    st.header("Setup")
    st.selectbox(
        "Data", DATASETS, format_func=DATASET_LABELS.get, key="lt_dataset",
        on_change=fit_p_to_dataset,
    )  # fmt: skip
    st.selectbox("Model", MODELS, key="lt_model", help="auto: a CNN for images, else an MLP.")
    st.select_slider("Embedding dimension", DIMS, key="lt_dim")
    st.selectbox("Loss", tuple(LOSSES), format_func=LOSS_LABELS.get, key="lt_loss")
    st.segmented_control("Synthesis", METHODS, key="lt_synthesis", required=True)
    st.select_slider("Learning rate", LRS, key="lt_lr", format_func=lambda v: f"{v:g}")
    left, right = st.columns(2)
    left.number_input("P classes / batch", 2, 64, step=1, key="lt_p")
    right.selectbox("K per class", (2, 4, 6, 8), key="lt_k")
    left.number_input("Seed", 0, 2**31 - 1, step=1, key="lt_seed")
    right.selectbox("Steps", STEP_BUDGETS, key="lt_steps")
    st.select_slider(
        "Speed (steps per update)", SPEEDS, key="lt_speed",
        help=f"Training steps per redraw; the view redraws every {TICK_SECONDS:g} s while playing.",
    )  # fmt: skip
    options = dataset_options(st.session_state.lt_dataset)
    st.caption(", ".join(f"{k}={v}" for k, v in options.items() if v is not None) or "")

for note in url_notes:  # a link with values the controls do not offer: say what was used instead
    st.warning(f"From the link: {note}", icon=":material/link_off:")
write_url_state()
run = trainer()
if run is None:
    st.error(st.session_state.lt_error, icon=":material/error:")
    st.stop()

playing = st.session_state.lt_playing
cannot_start = playing or run.done or out_of_time() or bool(st.session_state.get("lt_error"))
buttons = st.columns([1, 1, 1, 1, 4])
buttons[0].button(
    "Play", on_click=play, icon=":material/play_arrow:", type="primary", width="stretch",
    disabled=cannot_start,
)  # fmt: skip
buttons[1].button(
    "Pause", on_click=pause, icon=":material/pause:", width="stretch", disabled=not playing
)
buttons[2].button(
    f"Step +{SNAPSHOT_EVERY}", on_click=step_once, icon=":material/skip_next:",
    width="stretch", disabled=cannot_start,
)  # fmt: skip
buttons[3].button("Reset", on_click=reset, icon=":material/replay:", width="stretch")
buttons[4].caption(run.data.description)

# Beside the live view, what the data looks like (and, as every page needs one, an
# st.plotly_chart: live_figure.js draws with the plotly.js that Streamlit loads for it).
view, data_panel = st.columns([3, 2])
history_box = st.container()
with data_panel:
    test = run.data.test
    if run.data.natural_dim in (2, 3):
        panel = input_space_figure(
            test.x.numpy(), test.y.numpy(), title="input space (held-out classes)"
        )
    elif run.data.is_image:
        panel = image_grid_figure(test.x.numpy(), test.y.numpy(), title="held-out classes")
    else:
        panel = None
    if panel is not None:
        st.plotly_chart(panel, key="lt_inputs", width="stretch")
with view:
    st.fragment(live_view, run_every=TICK_SECONDS if playing else None)(history_box)

if not playing:
    replay = replay_section()
    st.subheader("Downloads")
    downloads(run, replay)
