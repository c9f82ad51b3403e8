// Releases page: compare two versions; build a release as a job with its progress shown and the button
// disabled until it ends.
"use strict";
(function () {
  const cf = document.getElementById("compare-form");
  if (cf) cf.addEventListener("submit", (e) => { e.preventDefault(); location.href = cf.dataset.base + cf.a.value + "/compare/" + cf.b.value + "/"; });
  const bf = document.getElementById("build-form");
  const bm = document.getElementById("build-msg");
  const bar = document.getElementById("build-progress");
  if (!bf) return;
  bf.addEventListener("submit", async (e) => {
    e.preventDefault();
    const restore = HB.busy(bf.querySelector("button[type=submit]"), "Building…");
    bm.className = "";
    try {
      const r = await HB.api("/api/curation/releases/", { method: "POST", body: { version: bf.version.value, notes: bf.notes.value } });
      bm.textContent = "Release " + r.version + ": " + r.status;
      if (r.job_id) {
        bar.hidden = false;
        const job = await HB.watchJob(r.job_id, (j) => {
          bm.textContent = "Release " + r.version + ": " + HB.progressText(j);
          if (j.total) { bar.max = j.total; bar.value = j.done; } else { bar.removeAttribute("value"); }
        });
        if (job.status !== "succeeded") { bm.className = "error"; restore(); return; }
      }
      location.reload();
    } catch (err) { bm.textContent = err.message; bm.className = "error"; restore(); }
  });
})();
