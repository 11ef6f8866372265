// The start page: the runs this studio serves, and which pages each one offers.
"use strict";

function cell(run, view, label) {
  const info = run.views[view];
  if (!info.offered) return studio.el("td", {class: "unavailable", title: info.reason || ""}, info.reason || "not offered");
  const parts = view === "draw"
    ? ["reconstruct", "sdedit", "inpaint"].filter((k) => info[k].offered).map((k) => (k === "sdedit" ? "stroke → image" : k))
    : [`${info.dim}-D ${info.space}`];
  return studio.el("td", {}, studio.el("a", {href: `/${view}?run=${encodeURIComponent(run.id)}`}, label), ` (${parts.join(", ")})`);
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    const runs = await studio.loadRuns();
    const rows = runs.map((run) => studio.el("tr", {},
      studio.el("td", {}, run.name),
      studio.el("td", {}, run.family + (run.conditional ? " (class-conditional)" : "")),
      studio.el("td", {}, `${run.dataset}, ${run.height}x${run.width}${run.channels === 3 ? " RGB" : ""}`),
      cell(run, "explore", "explore"),
      cell(run, "draw", "draw")));
    document.querySelector("#runs tbody").replaceChildren(...rows);
    const j = studio.judge;
    document.getElementById("judge-about").textContent =
      `A round is ${j.trials} trials drawn with seed ${j.seed} from ${j.runs.length} run(s)` +
      (j.time_limit_s ? `, ${j.time_limit_s} s per trial` : ", no time limit") +
      (j.exposure.mode === "staircase" ? ", each pair shown for a time a staircase adapts per judge." : "") +
      (j.exposure.mode === "fixed" ? `, each pair shown for ${j.exposure.ms} ms.` : "") +
      (j.exposure.mode === "none" ? "." : "") +
      " Answers go to RUN/judgements/; the results page and `genimg judge-score RUN` report the fooling rate.";
  } catch (error) {
    studio.fail(error);
  }
});
