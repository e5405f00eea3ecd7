// A plotly figure that updates in place (Live Training's embedding view and charts).
//
// st.plotly_chart remounts its chart whenever the figure changes, so a live view would lose the
// user's 3-D camera and zoom on every update, and a drag would be cut off mid-way. This
// component keeps one <div> and calls Plotly.react on it with each new figure. Plotly.react
// alone resets a 3-D camera that the figure does not name, even with the same uirevision, so
// the camera on screen is carried into the next figure while the uirevision is unchanged. It is
// asked of the scene itself: plotly writes a turned camera into the layout only when the mouse
// is released over the canvas, so a drag released beside the chart would otherwise be undone.
// A figure arriving during a drag waits for the drag to end, and a figure identical to the one
// drawn is skipped (the server resends unchanged charts on every tick). The cameras are also
// kept outside the chart, by uirevision and scene: should Streamlit remount the element (it did
// on Play until the page trained before drawing; see train_first), the new chart opens with the
// view the user left.
//
// A figure may carry plotly animation frames: the earlier snapshots of the training chunk that
// produced it, each holding the moving traces (all but the first). They are drawn one after
// the other, spread over the time the server takes per chunk, and the figure itself last, so
// the embedding moves through every snapshot instead of jumping from chunk to chunk. A chunk
// arriving while the previous one still plays is queued; the queue never holds more than two
// chunks, so the view stays at most one chunk behind training.
//
// Plotly is the copy Streamlit loads for st.plotly_chart (window.Plotly); the page always draws
// one st.plotly_chart, and this waits for it.

const MIN_FRAME_MS = 40;
const MAX_FRAME_MS = 250;
const CAMERAS = (window.symsynthCameras ||= {}); // uirevision -> scene name -> camera

export default function (component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector("div.symsynth-live-figure");
  if (!div) {
    div = document.createElement("div");
    div.className = "symsynth-live-figure";
    div.style.width = "100%";
    div.queue = [];
    parentElement.appendChild(div);
    div.addEventListener("pointerdown", () => { div.dragging = true; });
    div.addEventListener("wheel", () => remember(div), { passive: true });
    window.addEventListener("pointerup", () => {
      div.dragging = false;
      remember(div);
      play(div);
    });
  }
  if (data === div.lastData) return;
  div.lastData = data;
  const figure = JSON.parse(data);
  const frames = figure.frames || [];
  delete figure.frames;
  const chunk = frames.map((f) => ({ data: [figure.data[0], ...f.data], layout: figure.layout }));
  chunk.push(figure);

  // spread a chunk's frames over the time between chunks (measured), within sensible bounds
  const now = performance.now();
  const gap = div.arrivedAt ? now - div.arrivedAt : 0;
  div.arrivedAt = now;
  div.frameMs = Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, gap / chunk.length));
  if (div.queue.length > chunk.length) div.queue = div.queue.slice(-chunk.length);
  div.queue.push(...chunk);
  div.dataset.chunks = String(Number(div.dataset.chunks || 0) + 1);
  play(div);
}

// Draw the next queued figure, then schedule the one after it; nothing while a drag is under
// way or before plotly.js has loaded.
function play(div, tries = 0) {
  if (div.timer || div.dragging || !div.queue.length) return;
  if (!window.Plotly) {
    if (tries < 400) setTimeout(() => play(div, tries + 1), 50);
    return;
  }
  const start = performance.now();
  draw(div, div.queue.shift());
  if (div.queue.length) {
    const wait = Math.max(0, div.frameMs - (performance.now() - start)); // a frame every frameMs
    div.timer = setTimeout(() => {
      div.timer = null;
      play(div);
    }, wait);
  }
}

// Note the cameras on screen (plotly's live 3-D scenes) under the chart's uirevision.
function remember(div) {
  const shown = div.isConnected && div._fullLayout; // not a chart Streamlit has removed
  if (!shown || !div.layout || div.layout.uirevision === undefined) return;
  const cameras = (CAMERAS[div.layout.uirevision] ||= {});
  for (const name of Object.keys(shown)) {
    const scene = /^scene\d*$/.test(name) && shown[name]._scene;
    if (scene) cameras[name] = scene.getCamera();
  }
}

function draw(div, figure) {
  const layout = { ...(figure.layout || {}) };
  delete layout.template; // Streamlit's template holds colour placeholders only st.plotly_chart fills
  remember(div);
  for (const [name, camera] of Object.entries(CAMERAS[layout.uirevision] || {})) {
    if (layout[name] && !layout[name].camera) layout[name] = { ...layout[name], camera };
  }
  window.Plotly.react(div, figure.data, layout, { displaylogo: false, responsive: true });
  div.dataset.updates = String(Number(div.dataset.updates || 0) + 1);
}
