// Releases page: compare two versions; publishing is two steps: "Preview changes" shows the diff against the
// latest published release (and whether anything changed at all), then "Publish" builds it as a job with its
// progress shown and the buttons disabled until it ends. A release with no change needs the explicit
// "publish anyway" box (the API refuses it otherwise).
"use strict";
(function () {
  const cf = document.getElementById("compare-form");
  if (cf) cf.addEventListener("submit", (e) => { e.preventDefault(); location.href = cf.dataset.base + cf.a.value + "/compare/" + cf.b.value + "/"; });
  const bf = document.getElementById("build-form");
  const bm = document.getElementById("build-msg");
  const bar = document.getElementById("build-progress");
  const box = document.getElementById("confirm");
  if (!bf) return;
  const force = document.getElementById("force");
  const publish = document.getElementById("publish");
  const body = () => ({
    version: bf.version.value, notes: bf.notes.value, level_rule: bf.level_rule.value,
    test_fraction: Number(bf.test_fraction.value), force: force.checked,
    standard_key: bf.standard_key ? bf.standard_key.value : "",
  });

  bf.addEventListener("submit", async (e) => {
    e.preventDefault();
    bm.textContent = ""; bm.className = "";
    const restore = HB.busy(bf.querySelector("button[type=submit]"), "Comparing…");
    try {
      const p = await HB.api("/api/curation/releases/preview/?level_rule=" + encodeURIComponent(bf.level_rule.value) +
        "&standard=" + encodeURIComponent(bf.standard_key ? bf.standard_key.value : ""));
      const s = p.summary;
      const parts = Object.entries(p.per_part).map(([k, n]) => k + ": " + n).join(", ");
      document.getElementById("diff-text").textContent =
        bf.version.value + " vs " + (p.from || "nothing (initial release)") + ": +" + s.added + " added, −" + s.removed +
        " removed, ~" + s.relabelled + " relabelled" + (p.level_rule_changed ? ", level rule changed" : "") +
        ". Images: " + (parts || "none") + ".";
      const list = document.getElementById("diff-list");
      list.replaceChildren();
      const note = (t) => { const li = document.createElement("li"); li.textContent = t; list.append(li); };
      if (p.below_minimum) note(p.below_minimum + " complete image(s) below the minimum of " + p.min_ratings + " ratings are left out.");
      if (p.psi_stale) note("SUREAL ψ is older than the newest rating: the build re-runs the aggregation first.");
      for (const id of p.added.slice(0, 10)) note("added " + id.slice(0, 12) + "…");
      for (const id of p.removed.slice(0, 10)) note("removed " + id.slice(0, 12) + "…");
      for (const id of p.relabelled.slice(0, 10)) note("relabelled " + id.slice(0, 12) + "…");
      document.getElementById("force-row").hidden = p.changed;
      force.checked = false;
      publish.textContent = "Publish " + bf.version.value;
      box.hidden = false;
    } catch (err) { bm.textContent = err.message; bm.className = "error"; }
    restore();
  });
  document.getElementById("cancel").addEventListener("click", () => { box.hidden = true; });
  publish.addEventListener("click", async () => {
    const restore = HB.busy(publish, "Building…");
    bm.className = "";
    try {
      const r = await HB.api("/api/curation/releases/", { method: "POST", body: body() });
      box.hidden = true;
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
