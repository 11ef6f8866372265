// The Results page: the teacher's live view of the judging round. Polls /api/results (every 2 s,
// or ?every=MS) and redraws the tables in place; the page itself is never reloaded.
"use strict";

const results = {every: 2000, polls: 0, last: null};

function percent(x) {
  return x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`;
}

function scoreRow(run) {
  const s = run.score;
  const cells = s === null
    ? [run.name, "0", "—", "—", "—", "0", "0", "—"]
    : [
      run.name,
      String(s.trials),
      String(s.fooled),
      percent(s.fooling_rate),
      s.trials ? `[${percent(s.ci95[0])}, ${percent(s.ci95[1])}]` : "—",
      String(s.judges),
      String(s.timeouts),
      s.threshold_ms ? `${Math.round(s.threshold_ms)} ms (${s.threshold_judges} judges)` : "—",
    ];
  return studio.el("tr", {dataset: {run: run.id}}, ...cells.map((text, i) => studio.el("td", {class: i ? "number" : null}, text)));
}

function judgeRow(judge, trials) {
  const bar = studio.el("progress", {max: String(trials), value: String(judge.answers)});
  return studio.el("tr", {dataset: {judge: judge.judge}},
    studio.el("td", {}, studio.el("code", {}, judge.judge)),
    studio.el("td", {}, bar, ` ${judge.answers} of ${trials}`),
    studio.el("td", {class: "number"}, String(judge.fooled)),
    studio.el("td", {class: "number"}, String(judge.timeouts)),
    studio.el("td", {}, judge.last ? new Date(judge.last).toLocaleTimeString() : "—"));
}

function draw(reply) {
  document.querySelector("#scores tbody").replaceChildren(...reply.scores.map(scoreRow));
  document.querySelector("#judges tbody").replaceChildren(...reply.judges.map((j) => judgeRow(j, reply.trials)));
  const done = reply.judges.filter((j) => j.answers >= reply.trials).length;
  document.getElementById("summary").textContent =
    `${reply.judges.length} judge(s) in this round, ${done} finished; ${reply.round_answers} answers this round, ${reply.answers} in all.`;
  const exposure = reply.exposure.mode === "staircase"
    ? `exposure by staircase from ${reply.exposure.start_ms} ms`
    : (reply.exposure.mode === "fixed" ? `exposure ${reply.exposure.ms} ms` : "no exposure limit");
  document.getElementById("round-about").textContent =
    `Round ${reply.round}: ${reply.trials} trials drawn with seed ${reply.seed}, ${exposure}` +
    (reply.time_limit_s ? `, ${reply.time_limit_s} s per trial.` : ".");
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.answers = String(reply.answers);
  document.body.dataset.polls = String(results.polls);
}

async function poll() {
  try {
    const reply = await studio.api("/api/results");
    results.polls += 1;
    results.last = reply;
    draw(reply);
    studio.status("");
  } catch (error) {
    studio.fail(error);
  } finally {
    setTimeout(poll, results.every);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const every = Number(studio.query("every"));
  if (every >= 100) results.every = every;
  studio.resultsPage = results;
  poll();
});
