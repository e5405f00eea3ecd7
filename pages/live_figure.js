// A plotly figure that updates in place (Live Training's embedding view and charts).
//
// st.plotly_chart remounts its chart whenever the figure changes, so a live view would lose the
// user's 3-D camera and zoom on every update, and a drag would be cut off mid-way. This
// component keeps one <div> and calls Plotly.react on it with each new figure. Plotly.react
// alone resets a 3-D camera that the figure does not name, even with the same uirevision, so
// the camera the user chose is carried into the next figure while the uirevision is unchanged;
// a figure arriving during a drag waits for the drag to end.
//
// Plotly is the copy Streamlit loads for st.plotly_chart (window.Plotly); the page always draws
// one st.plotly_chart, and this waits for it.

export default function (component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector("div.symsynth-live-figure");
  if (!div) {
    div = document.createElement("div");
    div.className = "symsynth-live-figure";
    div.style.width = "100%";
    parentElement.appendChild(div);
    div.addEventListener("pointerdown", () => { div.dragging = true; });
    window.addEventListener("pointerup", () => {
      div.dragging = false;
      flush(div);
    });
  }
  div.pending = JSON.parse(data);
  flush(div);
}

// Draw the newest figure unless a drag is under way or plotly.js has not loaded yet.
function flush(div, tries = 0) {
  if (!div.pending || div.dragging) return;
  if (!window.Plotly) {
    if (tries < 400) setTimeout(() => flush(div, tries + 1), 50);
    return;
  }
  const figure = div.pending;
  div.pending = null;
  const layout = figure.layout || {};
  delete layout.template; // Streamlit's template holds colour placeholders only st.plotly_chart fills
  const old = div.layout;
  if (old && old.uirevision === layout.uirevision) {
    for (const name of Object.keys(old)) {
      if (/^scene\d*$/.test(name) && old[name].camera && layout[name] && !layout[name].camera) {
        layout[name].camera = old[name].camera;
      }
    }
  }
  window.Plotly.react(div, figure.data, layout, { displaylogo: false, responsive: true });
  div.dataset.updates = String(Number(div.dataset.updates || 0) + 1);
}
