// The Explore page: the latent map, live decoding, interpolation strips and coordinate sliders.
"use strict";

const explore = {
  run: null,
  map: null,
  view: null,
  ends: [],
  code: null,
  sliderInputs: [],
};

function decodedScale(run) {
  return Math.max(4, Math.round(224 / run.height));
}

function requestOptions() {
  const run = explore.run;
  const options = {run: run.id};
  if (run.views.explore.ddim_steps) options.steps = Number(document.getElementById("steps").value) || 10;
  return options;
}

async function showDecoded(body) {
  const reply = await studio.api("/api/explore/decode", {...requestOptions(), label: studio.label(explore.run), ...body});
  const img = document.getElementById("decoded");
  img.src = reply.image;
  img.dataset.where = JSON.stringify(body.point || "code");
  if (reply.code) setSliders(reply.code);
}

const decoder = new Latest(showDecoded);

function decodePoint(point) {
  decoder.push({point: point.map((x) => Number(x.toFixed(5)))});
}

function setSliders(code) {
  explore.code = code;
  explore.sliderInputs.forEach(({input, dim, value}) => {
    input.value = code[dim];
    value.textContent = Number(code[dim]).toFixed(2);
  });
}

function buildSliders() {
  const box = document.getElementById("sliders");
  const note = document.getElementById("sliders-note");
  const dims = explore.map.sliders;
  explore.sliderInputs = [];
  box.replaceChildren();
  if (!dims.length) {
    note.textContent = explore.run.views.explore.sliders_reason || "no coordinates to show";
    return;
  }
  note.textContent = `Each slider moves one coordinate of the code last decoded (${dims.length} of ${explore.map.dim}` +
    (explore.map.activity ? ", the most active over the test set first" : "") + ").";
  for (const dim of dims) {
    const input = studio.el("input", {type: "range", min: -4, max: 4, step: 0.01, value: 0, "aria-label": `z${dim + 1}`});
    const value = studio.el("output", {}, "0.00");
    input.addEventListener("input", () => {
      if (!explore.code) explore.code = new Array(explore.map.dim).fill(0);
      explore.code[dim] = Number(input.value);
      value.textContent = Number(input.value).toFixed(2);
      decoder.push({code: explore.code.slice()});
    });
    explore.sliderInputs.push({input, dim, value});
    const activity = explore.map.activity ? ` (var ${explore.map.activity[dim].toFixed(2)})` : "";
    box.append(studio.el("label", {class: "slider"}, `z${dim + 1}${activity}`, input, value));
  }
}

function buildLegend() {
  const legend = document.getElementById("legend");
  const classes = [...new Set(explore.map.labels)].sort((a, b) => a - b);
  legend.replaceChildren(...classes.map((k) => studio.el("li", {},
    studio.el("span", {class: "swatch", "data-class": k}), explore.map.class_names[k] || String(k))));
  legend.querySelectorAll(".swatch").forEach((swatch) => {
    swatch.style.background = PALETTE[Number(swatch.dataset.class) % PALETTE.length];
  });
}

async function interpolate() {
  const run = explore.run;
  const body = {
    ...requestOptions(),
    label: studio.label(run),
    method: document.getElementById("method").value,
    frames: Math.min(32, Math.max(2, Number(document.getElementById("frames").value) || 10)),
  };
  const [a, b] = explore.ends;
  if (a.index !== null && b.index !== null) body.images = [a.index, b.index];
  else body.points = [a.point, b.point];
  const strip = document.getElementById("strip");
  strip.dataset.busy = "1";
  try {
    const reply = await studio.api("/api/explore/interpolate", body);
    const scale = Math.max(3, Math.round(64 / run.height));
    const frames = reply.frames.map((src, i) => studio.image(src, run, scale, {class: "pixels frame", "data-t": reply.t[i], title: `t = ${reply.t[i]}`}));
    const ends = reply.ends.map((src, i) => studio.image(src, run, scale, {class: "pixels end", "data-end": i ? "b" : "a", title: i ? "B (test image)" : "A (test image)"}));
    strip.replaceChildren(...(ends.length ? [ends[0], studio.el("span", {class: "gap"}), ...frames, studio.el("span", {class: "gap"}), ends[1]] : frames));
    studio.status(`${body.method} interpolation, ${body.frames} frames` + (ends.length ? "; the outer images are the test images themselves" : ""));
  } finally {
    strip.dataset.busy = "0";
  }
}

function pick(i, point) {
  const index = i >= 0 ? explore.map.indices[i] : null;
  if (explore.map.points.length && index === null) {
    decodePoint(point);
    return; // with an encoded test set, interpolation joins test images
  }
  explore.ends = explore.ends.length >= 2 ? [] : explore.ends;
  explore.ends.push({index, point});
  explore.view.select(explore.ends.map((e) => e.point));
  const label = (e) => (e.index !== null ? `test image ${e.index} (class ${explore.map.class_names[explore.map.labels[explore.map.indices.indexOf(e.index)]]})` : `(${e.point.map((x) => x.toFixed(2)).join(", ")})`);
  document.getElementById("ends").textContent = `A: ${label(explore.ends[0])}` + (explore.ends[1] ? `, B: ${label(explore.ends[1])}` : "; now pick B");
  decodePoint(point);
  if (explore.ends.length === 2) interpolate().catch(studio.fail);
}

async function loadRun(run) {
  explore.run = run;
  explore.ends = [];
  explore.code = null;
  const info = run.views.explore;
  document.getElementById("steps-box").hidden = !info.ddim_steps;
  studio.status("encoding the test set ...");
  const canvas = document.getElementById("map");
  canvas.dataset.busy = "1";
  try {
    explore.map = await studio.api("/api/explore/map", requestOptions());
  } finally {
    canvas.dataset.busy = "0";
  }
  studio.fillClasses(run, explore.map.class_names);
  const scale = decodedScale(run);
  const img = document.getElementById("decoded");
  img.width = run.width * scale;
  img.height = run.height * scale;
  explore.view.setMap(explore.map);
  buildLegend();
  buildSliders();
  document.getElementById("strip").replaceChildren();
  document.getElementById("ends").textContent = explore.map.points.length ? "Click test point A, then B." : "Click two points of the plane, A then B.";
  document.getElementById("about").textContent = `${run.family}: ${explore.map.dim}-D ${explore.map.space}; map: ` +
    (explore.map.basis === "latent" ? "the latent itself" : explore.map.basis === "principal directions" ? `the plane of the two principal directions of ${explore.map.points.length} encoded test images` : `a plane through a prior draw (${info.map_reason})`);
  studio.status(`${explore.map.points.length} test images on the map`);
  const [u0, u1, v0, v1] = explore.map.extent;
  decodePoint([(u0 + u1) / 2, (v0 + v1) / 2]);
}

document.addEventListener("DOMContentLoaded", async () => {
  explore.view = new LatentMapView(document.getElementById("map"), {
    onHover: decodePoint,
    onDrag: decodePoint,
    onPick: pick,
  });
  studio.explore = explore;
  try {
    const run = await studio.pickRun("explore", (r) => loadRun(r).catch(studio.fail));
    if (run) await loadRun(run);
  } catch (error) {
    studio.fail(error);
  }
  for (const id of ["steps"]) {
    document.getElementById(id).addEventListener("change", () => loadRun(explore.run).catch(studio.fail));
  }
  document.getElementById("label").addEventListener("change", () => explore.view.marker && decodePoint(explore.view.marker));
});
