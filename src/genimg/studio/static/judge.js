// The Judge page: blind two-alternative trials, real test image against a model's sample.
// The judge's anonymous id comes from ?judge=, else this browser's storage, else the server.
// In a time-limited round (HYPE) each pair is hidden after the reply's exposure_ms; the judge
// answers after that, from memory.
"use strict";

const judge = {id: null, trial: null, shownAt: null, busy: false, timer: null, exposure: null, limit: null, reply: null};
const STORAGE_KEY = "genimg-studio-judge";

function storedId() {
  try { return window.localStorage.getItem(STORAGE_KEY); } catch (error) { return null; }
}

function storeId(id) {
  try { window.localStorage.setItem(STORAGE_KEY, id); } catch (error) { /* private mode: the id lives in the URL only */ }
}

function loaded(img) {
  return img.complete && img.naturalWidth > 0 ? Promise.resolve() : new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; });
}

async function show(reply) {
  judge.reply = reply;
  judge.id = reply.judge;
  storeId(reply.judge);
  document.getElementById("judge-id").textContent = reply.judge;
  document.body.dataset.judge = reply.judge;
  clearTimeout(judge.timer);
  clearTimeout(judge.exposure);
  const pair = document.getElementById("pair");
  const progress = document.getElementById("progress");
  if (reply.done) {
    judge.trial = null;
    pair.hidden = true;
    document.getElementById("timer").hidden = true;
    progress.textContent = `Round complete: ${reply.answered} of ${reply.trials} trials answered. Thank you!`;
    document.body.dataset.trial = "done";
    return;
  }
  pair.hidden = false;
  pair.classList.add("masked"); // nothing shows until both images of the new pair have loaded
  const left = document.getElementById("left-image");
  const right = document.getElementById("right-image");
  left.src = reply.left;
  right.src = reply.right;
  await Promise.all([loaded(left), loaded(right)]);
  pair.classList.remove("masked");
  judge.trial = reply.trial;
  judge.shownAt = performance.now();
  document.body.dataset.exposure = reply.exposure_ms ? String(reply.exposure_ms) : "";
  if (reply.exposure_ms) judge.exposure = setTimeout(() => pair.classList.add("masked"), reply.exposure_ms);
  judge.busy = false;
  document.body.dataset.trial = String(reply.trial);
  progress.textContent = `trial ${reply.answered + 1} of ${reply.trials}`;
  if (reply.time_limit_s) startTimer(reply.time_limit_s);
}

function startTimer(seconds) {
  const box = document.getElementById("timer");
  const bar = document.getElementById("timer-bar");
  box.hidden = false;
  bar.classList.remove("running");
  bar.style.animationDuration = `${seconds}s`;
  void bar.offsetWidth; // restart the CSS animation
  bar.classList.add("running");
  judge.timer = setTimeout(() => answer(null), seconds * 1000);
}

async function answer(choice) {
  if (judge.busy || judge.trial === null) return;
  judge.busy = true;
  clearTimeout(judge.timer);
  clearTimeout(judge.exposure);
  const elapsed = Math.round(performance.now() - judge.shownAt);
  try {
    const reply = await studio.api("/api/judge/answer", {judge: judge.id, trial: judge.trial, choice, response_ms: elapsed});
    studio.status(choice === null ? "time ran out; the trial was recorded without an answer" : "");
    await show(reply);
  } catch (error) {
    studio.fail(error);
    await show(await studio.api("/api/judge/next", {judge: judge.id})); // e.g. answered in another tab
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  studio.judgePage = judge;
  for (const button of document.querySelectorAll("button.choice")) {
    button.addEventListener("click", () => answer(button.dataset.choice));
  }
  document.addEventListener("keydown", (event) => {
    if (event.repeat) return;
    const key = event.key.toLowerCase();
    if (key === "arrowleft" || key === "f") answer("left");
    else if (key === "arrowright" || key === "j") answer("right");
  });
  try {
    const wanted = studio.query("judge") || storedId();
    const body = wanted && /^[A-Za-z0-9_-]{1,64}$/.test(wanted) ? {judge: wanted} : {};
    studio.status("drawing the trials ...");
    const reply = await studio.api("/api/judge/next", body);
    studio.status("");
    await show(reply);
  } catch (error) {
    studio.fail(error);
  }
});
