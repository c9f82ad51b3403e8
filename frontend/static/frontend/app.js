// Small helpers shared by pages (no framework, no CDN). Every page script is a static file: the site's
// Content-Security-Policy allows no inline script, no inline handler and no style attribute.
"use strict";
window.HB = {
  csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  },
  async api(path, { method = "GET", body = null, form = null } = {}) {
    const opts = { method, headers: { "X-CSRFToken": HB.csrf() }, credentials: "same-origin" };
    if (form) { opts.body = form; }
    else if (body !== null) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) { const err = new Error((data && data.message) || res.statusText); err.status = res.status; err.data = data; throw err; }
    return data;
  },
  // Poll a job until it ends; ``onProgress(job)`` after each read. Resolves with the finished job.
  async watchJob(jobId, onProgress = () => {}) {
    let job = await HB.api("/api/jobs/" + jobId + "/");
    for (let wait = 300; job.status === "pending" || job.status === "running"; wait = Math.min(wait * 1.5, 2000)) {
      onProgress(job);
      await new Promise((done) => setTimeout(done, wait));
      job = await HB.api("/api/jobs/" + jobId + "/");
    }
    onProgress(job);
    return job;
  },
  // "Working…" state of a button: disabled, aria-busy, a spinner; returns a function that restores it.
  busy(button, label) {
    const before = button.innerHTML;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "";
    const spin = document.createElement("span");
    spin.className = "spinner";
    spin.setAttribute("aria-hidden", "true");
    button.append(spin, " " + (label || "Working…"));
    return () => { button.innerHTML = before; button.disabled = false; button.removeAttribute("aria-busy"); };
  },
  progressText(job) {
    const part = job.total ? job.done + "/" + job.total + " (" + Math.round((100 * job.done) / job.total) + "%)" : job.done ? String(job.done) : "";
    return "Job #" + job.id + " " + job.status + (part ? " · " + part : "") + (job.message ? " · " + job.message : "");
  },
};
// Sizes that used to be style attributes: ``data-w="40%"`` sets the width from here (CSSOM is allowed by
// the CSP, inline style attributes are not).
document.querySelectorAll("[data-w]").forEach((el) => { el.style.width = el.dataset.w; });
// Links that submit a confirmation first: ``<button data-confirm="...">`` inside a form.
document.querySelectorAll("[data-confirm]").forEach((el) => {
  el.addEventListener("click", (ev) => { if (!window.confirm(el.dataset.confirm)) ev.preventDefault(); });
});
// Wide tables scroll inside their own box instead of widening the page; a box that does scroll can be
// reached with the keyboard (tabindex) and is named for screen readers.
document.querySelectorAll("main table").forEach((table) => {
  if (table.parentElement.classList.contains("table-wrap")) return;
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  table.parentElement.insertBefore(wrap, table);
  wrap.appendChild(table);
});
function markScrollable() {
  document.querySelectorAll(".table-wrap").forEach((wrap) => {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      if (!wrap.hasAttribute("aria-label")) {
        const caption = wrap.closest("section, .card");
        const heading = caption && caption.querySelector("h2, h3");
        wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() : "Table") + " (scrolls sideways)");
      }
    }
  });
}
markScrollable();
window.addEventListener("resize", markScrollable);
