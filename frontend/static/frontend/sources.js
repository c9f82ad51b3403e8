// Sources page: start an import or a filter job, follow its progress in place, then reload.
"use strict";
document.querySelectorAll("button[data-action]").forEach((btn) => {
  btn.addEventListener("click", async () => {
    const row = btn.closest("tr");
    const msg = document.getElementById("source-msg");
    const body = {};
    row.querySelectorAll("input[data-field]").forEach((i) => { body[i.dataset.field] = Number(i.value); });
    const restore = HB.busy(btn, btn.dataset.action === "filter" ? "Filtering…" : "Importing…");
    msg.className = "muted";
    try {
      const job = await HB.api(`/api/curation/sources/${btn.dataset.key}/${btn.dataset.action}/`, { method: "POST", body: btn.dataset.action === "filter" ? body : {} });
      const done = await HB.watchJob(job.id, (j) => { msg.textContent = HB.progressText(j); });
      if (done.status !== "succeeded") { msg.className = "error"; restore(); return; }
      location.reload();
    } catch (e) { msg.textContent = e.message; msg.className = "error"; restore(); }
  });
});
// Register a source: POST /api/curation/sources/ (which starts its import job), follow the job, reload.
(function () {
  const form = document.getElementById("register-form");
  if (!form) return;
  const msg = document.getElementById("register-msg");
  const bar = document.getElementById("register-progress");
  const layout = document.getElementById("importer-layout");
  const showLayout = () => { const o = form.importer.selectedOptions[0]; layout.textContent = o ? "Expected layout: " + o.title : ""; };
  form.importer.addEventListener("change", showLayout);
  showLayout();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const restore = HB.busy(form.querySelector("button[type=submit]"), "Registering…");
    msg.className = "";
    try {
      const r = await HB.api("/api/curation/sources/", { method: "POST", body: { key: form.key.value, name: form.name.value, importer: form.importer.value, root: form.root.value } });
      bar.hidden = false;
      const job = await HB.watchJob(r.job.id, (j) => {
        msg.textContent = HB.progressText(j);
        if (j.total) { bar.max = j.total; bar.value = j.done; } else { bar.removeAttribute("value"); }
      });
      if (job.status !== "succeeded") { msg.className = "error"; restore(); return; }
      location.reload();
    } catch (e) { msg.textContent = e.message; msg.className = "error"; restore(); }
  });
})();
