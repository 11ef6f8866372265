// The Draw page's canvas: the picture at the model's resolution, drawn on a canvas `scale` times
// larger (mouse, touch or pen: pointer events), with a mask layer above it for inpainting.
// pixels() area-averages each scale x scale block, as genimg's image loader resizes a PNG.
"use strict";

class DrawingCanvas {
  constructor(paint, mask) {
    this.paint = paint;
    this.mask = mask;
    this.tool = "brush";
    this.size = 1; // brush diameter in image pixels
    this.colour = "#ffffff";
    this.last = null;
    // Read back on every stroke (the model's view): ask for a canvas kept in memory, not on the GPU.
    this.contexts = new Map([paint, mask].map((canvas) => [canvas, canvas.getContext("2d", {willReadFrequently: true})]));
    mask.addEventListener("pointerdown", (e) => this.down(e));
    mask.addEventListener("pointermove", (e) => this.move(e));
    mask.addEventListener("pointerup", () => { this.last = null; });
    mask.addEventListener("pointercancel", () => { this.last = null; });
  }

  setShape(height, width, channels) {
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.scale = Math.max(4, Math.round(320 / Math.max(height, width)));
    for (const canvas of [this.paint, this.mask]) {
      canvas.width = width * this.scale;
      canvas.height = height * this.scale;
    }
    this.clear();
    this.clearMask();
  }

  clear() {
    const ctx = this.contexts.get(this.paint);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.paint.width, this.paint.height);
    this.changed();
  }

  clearMask() {
    this.contexts.get(this.mask).clearRect(0, 0, this.mask.width, this.mask.height);
    this.changed();
  }

  point(event) {
    const rect = this.mask.getBoundingClientRect();
    return [(event.clientX - rect.left) * (this.mask.width / rect.width), (event.clientY - rect.top) * (this.mask.height / rect.height)];
  }

  context() {
    const masking = this.tool === "mask" || this.tool === "unmask";
    const ctx = this.contexts.get(masking ? this.mask : this.paint);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = this.size * this.scale;
    ctx.globalCompositeOperation = this.tool === "unmask" ? "destination-out" : "source-over";
    const colour = this.tool === "eraser" ? "#000000" : masking ? "#ff0000" : this.colour;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    return ctx;
  }

  down(event) {
    this.mask.setPointerCapture(event.pointerId);
    const [x, y] = this.point(event);
    const ctx = this.context();
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    this.last = [x, y];
    this.changed();
  }

  move(event) {
    if (!this.last) return;
    const [x, y] = this.point(event);
    const ctx = this.context();
    ctx.beginPath();
    ctx.moveTo(...this.last);
    ctx.lineTo(x, y);
    ctx.stroke();
    this.last = [x, y];
    this.changed();
  }

  changed() {
    if (this.onChange) this.onChange();
  }

  // The block averages of one canvas: a flat list, row-major, `take(r, g, b, a)` per pixel.
  blocks(canvas, take) {
    const data = this.contexts.get(canvas).getImageData(0, 0, canvas.width, canvas.height).data;
    const s = this.scale;
    const out = [];
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        const sums = [0, 0, 0, 0];
        for (let dy = 0; dy < s; dy++) {
          let i = ((y * s + dy) * canvas.width + x * s) * 4;
          for (let dx = 0; dx < s; dx++, i += 4) {
            sums[0] += data[i]; sums[1] += data[i + 1]; sums[2] += data[i + 2]; sums[3] += data[i + 3];
          }
        }
        out.push(...take(sums.map((v) => v / (s * s * 255))));
      }
    }
    return out;
  }

  // The drawing at the model's resolution: H * W * C numbers in [0, 1], channels last.
  pixels() {
    const round = (v) => Math.round(v * 1e4) / 1e4;
    return this.blocks(this.paint, ([r, g, b]) => (this.channels === 1 ? [round(r)] : [round(r), round(g), round(b)]));
  }

  // 1 where the mask covers at least half a pixel (to fill in), else 0.
  maskPixels() {
    return this.blocks(this.mask, ([, , , a]) => [a >= 0.5 ? 1 : 0]);
  }

  // Paint a picture given at the model's resolution (a test image) onto the canvas.
  setPixels(pixels) {
    const ctx = this.contexts.get(this.paint);
    const c = this.channels;
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        const i = (y * this.width + x) * c;
        const [r, g, b] = c === 1 ? [pixels[i], pixels[i], pixels[i]] : [pixels[i], pixels[i + 1], pixels[i + 2]];
        ctx.fillStyle = `rgb(${Math.round(r * 255)}, ${Math.round(g * 255)}, ${Math.round(b * 255)})`;
        ctx.fillRect(x * this.scale, y * this.scale, this.scale, this.scale);
      }
    }
    this.changed();
  }
}

window.DrawingCanvas = DrawingCanvas;
