// The jobs page updates itself: every few seconds (while the tab is visible) it reads /api/jobs/ and
// redraws the rows (the first page: the newest jobs; another page, sort or filter: the rows it shows); pending and running jobs get a Cancel button (POST /api/jobs/<id>/cancel/), and for admins
// a resumable job that is not pending gets Resume (POST /api/jobs/<id>/resume/: only missing work is done).
"use strict";
(function () {
  const table = document.querySelector("table[data-live]");
  if (!table) return;
  const body = table.querySelector("tbody");
  const status = document.getElementById("jobs-status");
  const isAdmin = table.dataset.admin === "1";
  const head = Number(table.dataset.liveHead || 0);  // rows per page when this is the newest-first first page
  const EVERY_MS = 3000;
  const cell = (text, cls) => { const td = document.createElement("td"); if (cls) td.className = cls; td.textContent = text; return td; };

  function row(job) {
    const tr = document.createElement("tr");
    tr.dataset.job = job.id;
    tr.dataset.status = job.status;
    const st = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "status status-" + job.status;
    badge.textContent = job.status;
    st.appendChild(badge);
    const prog = document.createElement("td");
    prog.className = "progress-cell";
    if (job.total) {
      const p = document.createElement("progress");
      p.max = job.total; p.value = job.done;
      p.setAttribute("aria-label", "Job " + job.id + " progress");
      prog.append(p, " " + job.done + "/" + job.total);
    } else { prog.textContent = String(job.done); }
    const msg = cell(job.message || "", "message");
    if (job.error) {
      const d = document.createElement("details");
      const s = document.createElement("summary"); s.textContent = "error";
      const pre = document.createElement("pre"); pre.textContent = job.error.slice(0, 2000);
      d.append(s, pre); msg.append(" ", d);
    }
    const act = document.createElement("td");
    if (isAdmin && job.resumable && job.status !== "pending" && job.status !== "succeeded") {
      const r = document.createElement("button");
      r.type = "button"; r.className = "secondary small"; r.dataset.resume = job.id; r.textContent = "Resume";
      act.append(r, " ");
    }
    if (job.status === "pending" || job.status === "running") {
      const b = document.createElement("button");
      b.type = "button"; b.className = "secondary small"; b.dataset.cancel = job.id; b.textContent = "Cancel";
      act.appendChild(b);
    }
    tr.append(cell(String(job.id)), cell(job.kind, "kind"), st, prog, msg, act);
    return tr;
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const jobs = await HB.api("/api/jobs/");
      const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.closest("tr").dataset.job));
      if (head) {  // the unfiltered first page: the newest jobs, new ones appear on top
        body.replaceChildren(...jobs.slice(0, head).map(row));
        if (!jobs.length) { const tr = document.createElement("tr"); const td = cell("No jobs yet."); td.colSpan = 6; tr.appendChild(td); body.appendChild(tr); }
      } else {  // another page, sort or filter (server-side): update the rows shown, in place
        const byId = new Map(jobs.map((j) => [String(j.id), j]));
        body.querySelectorAll("tr[data-job]").forEach((tr) => { const j = byId.get(tr.dataset.job); if (j) tr.replaceWith(row(j)); });
      }
      open.forEach((id) => { const d = body.querySelector('tr[data-job="' + id + '"] details'); if (d) d.open = true; });
      status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (e) { status.textContent = "Could not refresh: " + e.message; }
  }

  body.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-cancel], button[data-resume]");
    if (!b) return;
    const resume = "resume" in b.dataset;
    const restore = HB.busy(b, resume ? "Resuming…" : "Cancelling…");
    const url = "/api/jobs/" + (resume ? b.dataset.resume + "/resume/" : b.dataset.cancel + "/cancel/");
    try { await HB.api(url, { method: "POST" }); }
    catch (e) { status.textContent = e.message; restore(); return; }
    refresh();
  });
  setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", refresh);
})();
