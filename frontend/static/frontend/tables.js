// Tables marked ``data-table="sort filter page"``: click a header to sort (numbers as numbers), a filter box
// above the table, and pages of 25 rows with Previous/Next. Works on the rows the server rendered.
// Long lists page on the server instead (frontend/listing.py): their filter forms (``form.table-tools``,
// method GET) apply as soon as a choice changes; the Show button stays for typed filters and no script.
"use strict";
(function () {
  document.querySelectorAll("form.table-tools[method=get] select").forEach((sel) => {
    sel.addEventListener("change", () => sel.form.requestSubmit());
  });
  const PAGE = 25;
  const value = (td) => {
    const t = (td ? td.textContent : "").trim();
    const n = parseFloat(t);
    return Number.isFinite(n) && /^[+-]?\d/.test(t) ? n : t.toLowerCase();
  };
  document.querySelectorAll("table[data-table]").forEach((table, ti) => {
    const features = table.dataset.table.split(/\s+/);
    const body = table.tBodies[0];
    const rows = [...body.rows].filter((r) => r.cells.length > 1);
    if (rows.length < 2) return;
    let shown = rows;
    let page = 0;
    let sortCol = -1;
    let asc = true;
    const bar = document.createElement("div");
    bar.className = "table-tools";
    let filter = null;
    if (features.includes("filter")) {
      filter = document.createElement("input");
      filter.type = "search";
      filter.placeholder = "Filter rows";
      filter.setAttribute("aria-label", "Filter the table's rows");
      bar.appendChild(filter);
    }
    const info = document.createElement("span");
    info.className = "muted small-text";
    info.setAttribute("role", "status");
    const prev = document.createElement("button");
    const next = document.createElement("button");
    [prev, next].forEach((b, i) => { b.type = "button"; b.className = "secondary small"; b.textContent = i ? "Next →" : "← Previous"; });
    bar.append(info);
    if (features.includes("page")) bar.append(prev, next);
    const anchor = table.closest(".table-wrap") || table;
    anchor.parentElement.insertBefore(bar, anchor);

    function render() {
      const paged = features.includes("page");
      const pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      const visible = new Set(paged ? shown.slice(page * PAGE, page * PAGE + PAGE) : shown);
      rows.forEach((r) => { r.hidden = !visible.has(r); });
      shown.forEach((r) => body.appendChild(r));
      info.textContent = shown.length + " row(s)" + (paged && pages > 1 ? " · page " + (page + 1) + " of " + pages : "");
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    if (filter) filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      shown = rows.filter((r) => !q || r.textContent.toLowerCase().includes(q));
      if (sortCol >= 0) sortBy(sortCol, false);
      page = 0;
      render();
    });
    prev.addEventListener("click", () => { page -= 1; render(); });
    next.addEventListener("click", () => { page += 1; render(); });
    function sortBy(col, flip) {
      if (flip) { asc = sortCol === col ? !asc : true; sortCol = col; }
      shown = shown.slice().sort((a, b) => {
        const x = value(a.cells[col]);
        const y = value(b.cells[col]);
        const c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
        return asc ? c : -c;
      });
    }
    if (features.includes("sort")) {
      [...table.tHead.rows[0].cells].forEach((th, col) => {
        if (th.hasAttribute("data-nosort")) return;
        const b = document.createElement("button");
        b.type = "button";
        b.className = "sort";
        b.textContent = th.textContent;
        th.textContent = "";
        th.appendChild(b);
        th.setAttribute("aria-sort", "none");
        b.addEventListener("click", () => {
          sortBy(col, true);
          [...table.tHead.rows[0].cells].forEach((h) => { if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none"); });
          th.setAttribute("aria-sort", asc ? "ascending" : "descending");
          render();
        });
      });
    }
    table.dataset.tableReady = String(ti);
    render();
  });
})();
