"""Compare Losses: several losses, with and without synthesis, trained on the same data, seeds and
budget; the paper's table (mean ± spread over seeds, best per loss in bold, Symm's gain against
the seed-to-seed spread), bars, small multiples of the held-out embeddings and training curves.

Everything is computed by ``symsynth.compare``. A comparison trains one run per tick of an
``st.fragment(run_every=...)`` (each run's progress streams into its bar), so the page answers
between runs and can be left and revisited: the job lives in ``st.session_state``, and finished
runs are stored in the run cache (same configuration → loaded, not retrained).
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Compare Losses · symsynth", layout="wide")

with st.spinner("Loading the training core…"):
    from symsynth.compare import (
        Comparison,
        ComparisonResult,
        RunCache,
        aggregate,
        mean_curves,
        run_one,
        runs_to_csv,
        to_csv,
        to_markdown,
    )
    from symsynth.data import DATASETS
    from symsynth.losses import LOSSES
    from symsynth.synthesis import METHODS
    from symsynth.train import TrainConfig
    from symsynth.viz.compare import curves_figure, embedding_grid, html_page, metric_bars
    from symsynth.viz.style import STILL_PLACEHOLDERS_CSS

st.html(f"<style>{STILL_PLACEHOLDERS_CSS}</style>")  # placeholders held still

TICK_SECONDS = 0.1  # pause between two runs of a comparison (each tick trains one run)
DIMS = (2, 3, 8, 16, 32, 64, 128)
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
UNITS = ("steps", "epochs")
DEFAULTS = {
    "cl_dataset": "digits",
    "cl_dim": 8,
    "cl_losses": ["triplet", "npair"],
    "cl_synthesis": ["none", "symm"],
    "cl_seeds": 2,
    "cl_first_seed": 0,
    "cl_unit": "steps",
    "cl_budget": 100,
    "cl_lr": 1e-2,
    "cl_k": 4,
}
BAR_METRICS = ("recall@1", "map@r", "nmi", "f1")


# ----------------------------------------------------------------------------- state


def restore_controls() -> None:
    """Give every control a value: the one it had when the page was last shown (Streamlit
    forgets a page's widgets when the user goes to another page), else its default."""
    saved = st.session_state.setdefault("cl_saved", {})
    for key, default in DEFAULTS.items():
        st.session_state.setdefault(key, saved.get(key, default))


def save_controls() -> None:
    st.session_state.cl_saved = {key: st.session_state[key] for key in DEFAULTS}


def current_comparison() -> Comparison:
    """The comparison the controls describe (not validated)."""
    s = st.session_state
    steps = int(s.cl_budget) if s.cl_unit == "steps" else None
    base = TrainConfig(
        dataset=s.cl_dataset,
        embedding_dim=int(s.cl_dim),
        lr=float(s.cl_lr),
        k=int(s.cl_k),
        epochs=int(s.cl_budget) if s.cl_unit == "epochs" else 1,
        max_steps=steps,
        eval_every=max(10, int(s.cl_budget) // 5) if steps else 50,
        snapshot_every=100_000,  # a comparison keeps only the final snapshot
    )
    first = int(s.cl_first_seed)
    return Comparison(
        base,
        losses=tuple(s.cl_losses),
        synthesis=tuple(s.cl_synthesis),
        seeds=tuple(range(first, first + int(s.cl_seeds))),
    )


def run_cache() -> RunCache:
    """The run cache on disk ($SYMSYNTH_CACHE, else ~/.cache/symsynth/runs), shared by all
    sessions and the command line."""
    return RunCache()


def start(comparison: Comparison) -> None:
    st.session_state.cl_job = {
        "comparison": comparison,
        "configs": comparison.configs(),
        "runs": [],
        "running": True,
        "error": None,
    }


def stop() -> None:
    job = st.session_state.get("cl_job")
    if job is not None:
        job["running"] = False


def run_name(config: TrainConfig) -> str:
    name = config.loss if config.synthesis == "none" else f"{config.loss}+{config.synthesis}"
    return f"{name} (seed {config.seed})"


# ----------------------------------------------------------------------------- the runner


def runner() -> None:
    """One tick: train (or load from the cache) the job's next run, streaming its progress;
    when the last run is in, keep the result and redraw the whole page."""
    job = st.session_state.get("cl_job")
    if job is None:
        return
    configs, runs = job["configs"], job["runs"]
    n = len(configs)
    overall = st.progress(len(runs) / n, text=f"overall: {len(runs)} of {n} runs done")
    if job["error"]:
        st.error(job["error"], icon=":material/error:")
    if not job["running"]:
        if len(runs) < n and not job["error"]:
            st.info(
                f"Stopped after {len(runs)} of {n} runs. **Run comparison** continues: finished"
                " runs come from the cache.",
                icon=":material/pause:",
            )
        return
    config = configs[len(runs)]
    bar = st.progress(0.0, text=f"run {len(runs) + 1} of {n}: {run_name(config)}")

    def on_progress(p) -> None:
        what = "loaded from the cache" if p.cached else f"step {p.step} of {p.steps}"
        bar.progress(p.run_fraction, text=f"run {len(runs) + 1} of {n}: {run_name(config)}, {what}")
        done = (len(runs) + p.run_fraction) / n
        overall.progress(done, text=f"overall: {len(runs)} of {n} runs done")

    try:
        runs.append(run_one(config, run_cache(), on_progress, threads=1))
    except ValueError as err:  # a configuration or data set that cannot train
        job["error"] = f"{run_name(config)} cannot train: {err}"
        job["running"] = False
        st.rerun(scope="app")
    if len(runs) == n:
        job["running"] = False
        st.session_state.cl_result = ComparisonResult(job["comparison"], list(runs))
        st.rerun(scope="app")


# ----------------------------------------------------------------------------- results


def panels_for(result: ComparisonResult, seed: int) -> list:
    return [
        (f"{r.name} (seed {r.seed})", r.probe_embeddings, r.probe_labels)
        for r in result.runs_for_seed(seed)
    ]


def results(result: ComparisonResult) -> None:
    cmp = result.comparison
    rows = aggregate(result.runs)
    st.header("Results")
    cached = sum(r.cached for r in result.runs)
    st.caption(
        f"{cmp.base.dataset}, {len(result.runs)} runs ({cached} from the cache), "
        f"{result.runs[0].steps} steps each, {result.seconds:.0f} s of training in total. "
        "Metrics on the whole held-out split (classes never seen in training)."
    )
    if result.comparison != current_comparison():
        st.caption(":orange[These results are for the last comparison run; the settings differ.]")
    diverged = [r for r in result.runs if r.diverged_at is not None]
    for r in diverged:
        st.warning(
            f"{r.name} (seed {r.seed}) diverged at step {r.diverged_at}; its metrics are those "
            "of the weights before that step. A lower learning rate helps.",
            icon=":material/warning:",
        )
    st.subheader("The table")
    st.markdown(to_markdown(rows))

    st.subheader("Bars")
    bars = metric_bars(rows, BAR_METRICS)
    st.plotly_chart(bars, key="cl_bars", width="stretch")

    st.subheader("Held-out embeddings")
    seed = cmp.seeds[0]
    if len(cmp.seeds) > 1:
        seed = st.segmented_control(
            "Seed", cmp.seeds, default=cmp.seeds[0], key="cl_view_seed", required=True
        )
    grid = embedding_grid(panels_for(result, seed), cols=len(cmp.synthesis))
    st.caption(
        "One panel per run, the probe set of held-out items, coloured by class, on shared axes"
        + (" (each higher-dimensional embedding projected on its own principal directions)."
           if cmp.base.embedding_dim > 3 else ".")
    )  # fmt: skip
    st.plotly_chart(grid, key="cl_grid", width="stretch")

    st.subheader("Training curves")
    smooth = max(1, min(20, result.runs[0].steps // 5))
    curves = curves_figure(mean_curves(result.runs), smooth=smooth)
    st.plotly_chart(curves, key="cl_curves", width="stretch")

    st.subheader("Export")
    name = f"symsynth-compare-{cmp.base.dataset}"
    cols = st.columns(4)
    cols[0].download_button(
        "Table (CSV)", to_csv(rows), f"{name}.csv", "text/csv", on_click="ignore",
        icon=":material/table:", width="stretch",
    )  # fmt: skip
    cols[1].download_button(
        "Table (Markdown)", to_markdown(rows), f"{name}.md", "text/markdown", on_click="ignore",
        icon=":material/description:", width="stretch",
    )  # fmt: skip
    cols[2].download_button(
        "Every run (CSV)", runs_to_csv(result.runs), f"{name}-runs.csv", "text/csv",
        on_click="ignore", icon=":material/list:", width="stretch",
    )  # fmt: skip
    figures = [("Metrics", bars), (f"Held-out embeddings, seed {seed}", grid),
               ("Training curves", curves)]  # fmt: skip
    cols[3].download_button(
        "Figures (HTML)",
        lambda: html_page(figures, title=f"symsynth comparison on {cmp.base.dataset}",
                          intro=to_markdown(rows, gains=False)),
        f"{name}.html", "text/html", on_click="ignore", icon=":material/bar_chart:",
        width="stretch",
    )  # fmt: skip
    st.caption(
        "The **Embedding Explorer** page (sidebar) shows these runs' nearest neighbours and "
        "Recall@1 per class."
    )


# ----------------------------------------------------------------------------- the page

restore_controls()
st.title("Compare Losses")
st.markdown(
    "Does every loss get better with **Symm**, as the paper's table says? Train each loss with "
    "and without synthesis on the **same data, model initialisation, batches and budget**, over "
    "several seeds, and see whether the gain is larger than the seed-to-seed spread."
)

with st.sidebar:
    st.header("Comparison")
    st.selectbox("Data", DATASETS, key="cl_dataset")
    st.multiselect("Losses", tuple(LOSSES), key="cl_losses")
    st.multiselect("Synthesis", METHODS, key="cl_synthesis", help="none is each loss's baseline.")
    left, right = st.columns(2)
    left.number_input("Seeds", 1, 10, step=1, key="cl_seeds")
    right.number_input("First seed", 0, 10_000, step=1, key="cl_first_seed")
    left, right = st.columns([3, 2])
    left.segmented_control("Budget in", UNITS, key="cl_unit", required=True)
    right.number_input("Budget", 1, 100_000, step=10, key="cl_budget")
    st.select_slider("Embedding dimension", DIMS, key="cl_dim")
    left, right = st.columns(2)
    left.selectbox("Learning rate", LRS, key="cl_lr", format_func=lambda v: f"{v:g}")
    right.selectbox("K per class", (2, 4, 6, 8), key="cl_k")
save_controls()

comparison = current_comparison()
try:
    comparison.validate()
    problem = None
except ValueError as err:
    problem = str(err)

job = st.session_state.get("cl_job")
running = bool(job and job["running"])
buttons = st.columns([2, 1, 5])
if problem:
    st.error(f"This comparison cannot run: {problem}", icon=":material/error:")
else:
    configs = comparison.configs()
    in_cache = sum(config in run_cache() for config in configs)
    unit = "steps" if comparison.base.max_steps else "epochs"
    budget = comparison.base.max_steps or comparison.base.epochs
    buttons[2].caption(
        f"{len(comparison.losses)} losses × {len(comparison.synthesis)} synthesis × "
        f"{len(comparison.seeds)} seeds = **{len(configs)} runs** of {budget} {unit}; "
        f"{in_cache} already in the cache."
    )
buttons[0].button(
    "Run comparison", on_click=start, args=(comparison,), type="primary",
    icon=":material/play_arrow:", width="stretch", disabled=bool(problem) or running,
)  # fmt: skip
buttons[1].button(
    "Stop", on_click=stop, icon=":material/stop:", width="stretch", disabled=not running
)

st.fragment(runner, run_every=TICK_SECONDS if running else None)()

result = st.session_state.get("cl_result")
if result is not None and not running:
    results(result)
elif result is None and not running:
    st.info(
        "Choose the losses and variants in the sidebar and press **Run comparison**. The "
        "defaults (8 runs of 100 steps on digits) finish in well under a minute.",
        icon=":material/info:",
    )
