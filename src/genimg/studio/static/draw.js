// The Draw page: a canvas, and what the model can do with the drawing (offered by capability).
"use strict";

const draw = {run: null, canvas: null};

function showModelView() {
  const run = draw.run;
  if (!run) return;
  const pixels = draw.canvas.pixels();
  const small = document.createElement("canvas");
  small.width = run.width;
  small.height = run.height;
  const ctx = small.getContext("2d");
  const image = ctx.createImageData(run.width, run.height);
  const c = run.channels;
  for (let i = 0; i < run.width * run.height; i++) {
    const [r, g, b] = c === 1 ? [pixels[i], pixels[i], pixels[i]] : pixels.slice(i * 3, i * 3 + 3);
    image.data.set([r * 255, g * 255, b * 255, 255], i * 4);
  }
  ctx.putImageData(image, 0, 0);
  document.getElementById("model-view").src = small.toDataURL("image/png");
}

function scoreText(score) {
  const psnr = score.psnr === null ? "∞" : score.psnr.toFixed(2);
  return `MSE ${score.mse.toFixed(4)} · PSNR ${psnr} dB · SSIM ${score.ssim.toFixed(3)}`;
}

function showResults(title, reply) {
  const run = draw.run;
  const scale = Math.max(3, Math.round(112 / run.height));
  document.getElementById("results-title").textContent = title;
  const input = studio.el("figure", {class: "result input"}, studio.image(reply.input, run, scale, {class: "pixels"}), studio.el("figcaption", {}, "input"));
  const figures = reply.images.map((src, i) =>
    studio.el("figure", {class: "result"}, studio.image(src, run, scale, {class: "pixels output", "data-index": i}),
      studio.el("figcaption", {}, scoreText(reply.scores[i]))));
  document.getElementById("results").replaceChildren(input, ...figures);
  studio.status(`${title}: ${reply.images.length} image(s); scores against the input`);
}

async function act(title, path, extra) {
  const results = document.getElementById("results");
  results.dataset.busy = "1";
  studio.status(`${title} ...`);
  try {
    const body = {run: draw.run.id, pixels: draw.canvas.pixels(), label: studio.label(draw.run), ...extra};
    showResults(title, await studio.api(path, body));
  } catch (error) {
    studio.fail(error);
  } finally {
    results.dataset.busy = "0";
  }
}

function offer(boxId, info) {
  const box = document.getElementById(boxId);
  box.classList.toggle("unavailable", !info.offered);
  box.querySelectorAll("button, input, select").forEach((control) => { control.disabled = !info.offered; });
  let reason = box.querySelector(".reason");
  if (!reason) {
    reason = studio.el("p", {class: "note reason"});
    box.append(reason);
  }
  reason.textContent = info.offered ? "" : info.reason || "";
}

function loadRun(run) {
  draw.run = run;
  const views = run.views.draw;
  studio.fillClasses(run);
  document.getElementById("colour-box").hidden = run.channels === 1;
  draw.canvas.setShape(run.height, run.width, run.channels);
  document.getElementById("size").value = String(Math.max(1, Math.round(run.height / 11 * 4) / 4));
  document.getElementById("size").dispatchEvent(new Event("input"));
  offer("reconstruct-box", views.reconstruct);
  offer("sdedit-box", views.sdedit);
  offer("inpaint-box", views.inpaint);
  const methods = document.getElementById("method");
  methods.replaceChildren(...(views.inpaint.methods || []).map((m) => studio.el("option", {value: m.name}, `${m.name}: ${m.description}`)));
  const scale = Math.max(4, Math.round(160 / run.height));
  const view = document.getElementById("model-view");
  view.width = run.width * scale;
  view.height = run.height * scale;
  document.getElementById("results").replaceChildren();
  showModelView();
  studio.status(`${run.name}: draw at ${run.height}x${run.width}, shown ${draw.canvas.scale} times larger`);
}

async function loadTestImage() {
  const raw = document.getElementById("test-index").value;
  const body = {run: draw.run.id};
  if (raw !== "") body.index = Number(raw);
  else body.seed = Math.floor(Math.random() * 1e6);
  const reply = await studio.api("/api/test-image", body);
  draw.canvas.setPixels(reply.pixels);
  if (draw.run.conditional) document.getElementById("label").value = String(reply.label);
  studio.status(`test image ${reply.index} (class ${reply.label}) on the canvas`);
}

document.addEventListener("DOMContentLoaded", async () => {
  draw.canvas = new DrawingCanvas(document.getElementById("paint"), document.getElementById("mask"));
  draw.canvas.onChange = () => { if (!draw.pendingView) { draw.pendingView = true; requestAnimationFrame(() => { draw.pendingView = false; showModelView(); }); } };
  studio.draw = draw;
  for (const radio of document.querySelectorAll("input[name='tool']")) {
    radio.addEventListener("change", () => { draw.canvas.tool = radio.value; });
  }
  document.getElementById("size").addEventListener("input", (e) => {
    draw.canvas.size = Number(e.target.value);
    document.getElementById("size-value").textContent = e.target.value;
  });
  document.getElementById("colour").addEventListener("input", (e) => { draw.canvas.colour = e.target.value; });
  document.getElementById("strength").addEventListener("input", (e) => { document.getElementById("strength-value").textContent = e.target.value; });
  document.getElementById("clear").addEventListener("click", () => draw.canvas.clear());
  document.getElementById("clear-mask").addEventListener("click", () => draw.canvas.clearMask());
  document.getElementById("load-test").addEventListener("click", () => loadTestImage().catch(studio.fail));
  document.getElementById("reconstruct").addEventListener("click", () => act("reconstruction", "/api/draw/reconstruct", {}));
  document.getElementById("sdedit").addEventListener("click", () => act("stroke → image", "/api/draw/sdedit", {
    strength: Number(document.getElementById("strength").value),
    samples: Number(document.getElementById("samples").value) || 4,
    steps: Number(document.getElementById("sdedit-steps").value) || 20,
    seed: Number(document.getElementById("seed").value) || 0,
  }));
  document.getElementById("inpaint").addEventListener("click", () => {
    const steps = document.getElementById("inpaint-steps").value;
    act("inpainting", "/api/draw/inpaint", {
      mask: draw.canvas.maskPixels(),
      method: document.getElementById("method").value,
      samples: Number(document.getElementById("inpaint-samples").value) || 1,
      steps: steps === "" ? null : Number(steps),
    });
  });
  try {
    const run = await studio.pickRun("draw", loadRun);
    if (run) loadRun(run);
  } catch (error) {
    studio.fail(error);
  }
});
