// The latent map of the Explore page: a canvas showing the plane (u, v) with the encoded test
// set coloured by class. Hovering or dragging reports plane points (decoded live by the page);
// a click near a test point selects it, a click elsewhere selects the plane point.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MARGIN = {left: 46, right: 12, top: 12, bottom: 40};
const PICK_RADIUS = 7; // CSS pixels: how near a click must fall to pick a test point

class LatentMapView {
  constructor(canvas, {onHover, onDrag, onPick}) {
    this.canvas = canvas;
    this.onHover = onHover;
    this.onDrag = onDrag;
    this.onPick = onPick;
    this.map = null;
    this.marker = null;
    this.selected = [];
    this.dragging = false;
    this.downAt = null;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => { this.dragging = false; this.downAt = null; });
  }

  setMap(map) {
    this.map = map;
    this.marker = null;
    this.selected = [];
    this.draw();
  }

  get size() {
    return {width: this.canvas.clientWidth || 480, height: this.canvas.clientHeight || 480};
  }

  // plane (u, v) <-> canvas CSS pixels
  toScreen(u, v) {
    const [u0, u1, v0, v1] = this.map.extent;
    const {width, height} = this.size;
    const w = width - MARGIN.left - MARGIN.right;
    const h = height - MARGIN.top - MARGIN.bottom;
    return [MARGIN.left + ((u - u0) / (u1 - u0)) * w, MARGIN.top + (1 - (v - v0) / (v1 - v0)) * h];
  }

  toPlane(x, y) {
    const [u0, u1, v0, v1] = this.map.extent;
    const {width, height} = this.size;
    const w = width - MARGIN.left - MARGIN.right;
    const h = height - MARGIN.top - MARGIN.bottom;
    return [u0 + ((x - MARGIN.left) / w) * (u1 - u0), v0 + (1 - (y - MARGIN.top) / h) * (v1 - v0)];
  }

  // Where test point i is, in page coordinates (what a test clicks on).
  screenPoint(i) {
    const rect = this.canvas.getBoundingClientRect();
    const [x, y] = this.toScreen(...this.map.points[i]);
    return [rect.left + x, rect.top + y];
  }

  local(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  nearest(x, y) {
    let best = -1;
    let bestDistance = PICK_RADIUS;
    this.map.points.forEach(([u, v], i) => {
      const [px, py] = this.toScreen(u, v);
      const d = Math.hypot(px - x, py - y);
      if (d <= bestDistance) {
        best = i;
        bestDistance = d;
      }
    });
    return best;
  }

  down(event) {
    if (!this.map) return;
    this.canvas.setPointerCapture(event.pointerId);
    this.downAt = this.local(event);
    this.dragging = false;
  }

  move(event) {
    if (!this.map) return;
    const [x, y] = this.local(event);
    if (this.downAt) {
      if (!this.dragging && Math.hypot(x - this.downAt[0], y - this.downAt[1]) < 4) return;
      this.dragging = true;
      this.marker = this.toPlane(x, y);
      this.draw();
      this.onDrag(this.marker);
    } else {
      this.onHover(this.toPlane(x, y));
    }
  }

  up(event) {
    if (!this.map || !this.downAt) return;
    const [x, y] = this.local(event);
    const wasDrag = this.dragging;
    this.downAt = null;
    this.dragging = false;
    if (wasDrag) return;
    const i = this.nearest(x, y);
    this.marker = i >= 0 ? this.map.points[i] : this.toPlane(x, y);
    this.draw();
    this.onPick(i, this.marker);
  }

  select(entries) {
    this.selected = entries;
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const {width, height} = this.size;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    if (!this.map) return;
    ctx.strokeStyle = "#999";
    ctx.strokeRect(MARGIN.left, MARGIN.top, width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom);
    ctx.fillStyle = "#333";
    ctx.font = "12px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(this.map.axis_names[0], MARGIN.left + (width - MARGIN.left - MARGIN.right) / 2, height - 10);
    ctx.save();
    ctx.translate(14, MARGIN.top + (height - MARGIN.top - MARGIN.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(this.map.axis_names[1], 0, 0);
    ctx.restore();
    this.map.points.forEach(([u, v], i) => {
      const [x, y] = this.toScreen(u, v);
      ctx.fillStyle = PALETTE[this.map.labels[i] % PALETTE.length];
      ctx.globalAlpha = 0.75;
      ctx.beginPath();
      ctx.arc(x, y, 2.6, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    this.selected.forEach(([u, v], n) => {
      const [x, y] = this.toScreen(u, v);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, 7, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.fillStyle = "#000";
      ctx.fillText(n === 0 ? "A" : "B", x + 12, y - 8);
    });
    if (this.marker) {
      const [x, y] = this.toScreen(...this.marker);
      ctx.strokeStyle = "#d00";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x - 8, y); ctx.lineTo(x + 8, y); ctx.moveTo(x, y - 8); ctx.lineTo(x, y + 8);
      ctx.stroke();
    }
  }
}

window.LatentMapView = LatentMapView;
window.PALETTE = PALETTE;
