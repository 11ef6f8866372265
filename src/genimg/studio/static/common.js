// genimg studio: what every page shares. Plain JavaScript, no build step, nothing from the network
// but the studio's own API. window.studio is also what the browser tests use to wait for the
// page to settle (studio.idle()).
"use strict";

const studio = {
  pending: 0,
  runs: null,
  judge: null,

  // POST a JSON body (or GET without one); resolve with the JSON reply, or reject with the
  // server's one-line error.
  async api(path, body) {
    studio.pending += 1;
    try {
      const init = body === undefined ? {} : {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body),
      };
      const response = await fetch(path, init);
      const reply = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
      if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
      return reply;
    } finally {
      studio.pending -= 1;
    }
  },

  idle() {
    return studio.pending === 0 && document.querySelectorAll("[data-busy='1']").length === 0;
  },

  status(message, isError = false) {
    const line = document.getElementById("status");
    if (!line) return;
    line.textContent = message;
    line.classList.toggle("error", isError);
  },

  fail(error) {
    studio.status(error.message || String(error), true);
  },

  async loadRuns() {
    if (!studio.runs) {
      const reply = await studio.api("/api/runs");
      studio.runs = reply.runs;
      studio.judge = reply.judge;
    }
    return studio.runs;
  },

  query(name) {
    return new URLSearchParams(window.location.search).get(name);
  },

  // Fill the run picker with the runs that offer `view`; resolve with the chosen run.
  async pickRun(view, onChange) {
    const runs = (await studio.loadRuns()).filter((r) => r.views[view].offered);
    const select = document.getElementById("run");
    select.replaceChildren(...runs.map((r) => studio.el("option", {value: r.id}, `${r.name} (${r.family}, ${r.dataset}, ${r.height}x${r.width})`)));
    const wanted = studio.query("run");
    if (wanted && runs.some((r) => r.id === wanted)) select.value = wanted;
    select.addEventListener("change", () => {
      const url = new URL(window.location.href);
      url.searchParams.set("run", select.value);
      window.history.replaceState(null, "", url);
      onChange(runs.find((r) => r.id === select.value));
    });
    if (!runs.length) {
      studio.status(`no run here offers this page; the runs: ${(studio.runs || []).map((r) => `${r.name}: ${r.views[view].reason}`).join("; ")}`, true);
      return null;
    }
    return runs.find((r) => r.id === select.value);
  },

  // The class picker of a class-conditional model (hidden otherwise).
  fillClasses(run, names) {
    const box = document.getElementById("class-box");
    const select = document.getElementById("label");
    if (!box || !select) return;
    box.hidden = !run.conditional;
    const labels = names || Array.from({length: run.num_classes}, (_, k) => String(k));
    select.replaceChildren(...labels.map((name, k) => studio.el("option", {value: String(k)}, name)));
  },

  label(run) {
    const select = document.getElementById("label");
    return run.conditional && select ? Number(select.value) : null;
  },

  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  },

  // An image at the model's resolution shown `scale` times larger, pixel for pixel.
  image(src, run, scale, attrs = {}) {
    return studio.el("img", {src, width: run.width * scale, height: run.height * scale, class: "pixels", alt: "", ...attrs});
  },

  // Keep the ?run= choice when moving between pages.
  linkPages() {
    const run = studio.query("run");
    for (const link of document.querySelectorAll("nav a[data-keep-run]")) {
      if (run) link.href = `${link.getAttribute("href")}?run=${encodeURIComponent(run)}`;
    }
  },
};

// One request at a time per kind of call, the latest wins: while a decode is in flight, pointer
// moves only replace the queued request, so the server never falls behind the pointer.
class Latest {
  constructor(send) {
    this.send = send;
    this.running = false;
    this.queued = null;
  }

  push(args) {
    this.queued = args;
    if (!this.running) this.next();
  }

  async next() {
    if (this.queued === null) {
      this.running = false;
      return;
    }
    const args = this.queued;
    this.queued = null;
    this.running = true;
    studio.pending += 1;
    try {
      await this.send(args);
    } catch (error) {
      studio.fail(error);
    } finally {
      studio.pending -= 1;
    }
    this.next();
  }
}

window.studio = studio;
window.Latest = Latest;
document.addEventListener("DOMContentLoaded", () => studio.linkPages());
