// Score one uploaded image with a model version: queued as a job on the model workers; the button is
// disabled with a spinner and the job's progress is shown until the result arrives.
"use strict";
(function () {
  const names = JSON.parse(document.getElementById("dimension-names").textContent);
  const form = document.getElementById("score-form");
  const status = document.getElementById("score-status");
  const fmt = (x) => (x === null || x === undefined) ? "—" : Number(x).toFixed(3);
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }
    return tr;
  }
  function bar(x) { const s = document.createElement("span"); s.className = "bar"; s.style.width = Math.round(Number(x) * 120) + "px"; return s; }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("score-error");
    err.hidden = true;
    const restore = HB.busy(form.querySelector("button[type=submit]"), "Scoring…");
    const started = performance.now();
    status.hidden = false;
    status.textContent = "Uploading…";

    try {
      const queued = await HB.api("/api/modeling/predict/jobs/", { method: "POST", form: new FormData(form) });
      const job = await HB.watchJob(queued.job_id, (j) => {
        status.textContent = (j.status === "pending" ? "Waiting for a model worker" : "Scoring") + " · " +
          ((performance.now() - started) / 1000).toFixed(0) + " s" + (j.message ? " · " + j.message : "");
      });
      if (job.status !== "succeeded") { throw new Error(job.message || job.error || "Scoring failed."); }
      const r = job.result;
      document.getElementById("score-preview").src = URL.createObjectURL(form.file.files[0]);
      document.getElementById("score-final").textContent = fmt(r.score);
      document.getElementById("score-level").textContent = r.rating_level;
      document.getElementById("score-version").textContent = r.model_version;
      document.getElementById("score-heads").replaceChildren(
        row(["MetaVoter (final)", fmt(r.final_score)]), row(["LM head", fmt(r.lm_score)]),
        row(["Regression head", fmt(r.regression_score)]), row(["Expert head", fmt(r.expert_overall)]),
        row(["Heads' disagreement (SD)", fmt(r.heads_disagreement)]));
      document.getElementById("score-dims").replaceChildren(...Object.keys(names).map((k) => { const tr = row([names[k], fmt(r.dimensions[k]), bar(r.dimensions[k])]); tr.dataset.dim = k; return tr; }));
      document.getElementById("score-result").hidden = false;
      status.textContent = "Scored in " + ((performance.now() - started) / 1000).toFixed(1) + " s.";
    } catch (e) {
      err.textContent = e.message; err.hidden = false; status.hidden = true;
    } finally {

      restore();
    }
  });
})();
