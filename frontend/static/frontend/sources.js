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
