// Per-level example images on the scoring workspace (docs/workspace.md, "Level examples"): for the dimension
// whose scale has focus, the strip under the definition shows the examples admins chose for each level
// (Bad … Excellent), always visible (no hover, so touch screens get them). A thumbnail is a button: click,
// Enter or Space opens it larger in a dialog, where ← → (or the buttons) step through that level's examples.
// Keys pressed inside the dialog never reach the workspace's shortcuts. Only the level is shown, never a MOS.
"use strict";
(function () {
  const data = document.getElementById("level-examples-data");
  const strip = document.getElementById("level-examples");
  if (!data || !strip) return;
  const examples = JSON.parse(data.textContent);
  const rating = document.getElementById("rating");
  const dialog = document.getElementById("example-dialog");
  const title = document.getElementById("example-title");
  const big = document.getElementById("example-image");
  const prev = document.getElementById("example-prev");
  const next = document.getElementById("example-next");
  let shownKey = null;
  let open = null; // {name, level, list, i}

  function dimName(key) {
    const row = rating.querySelector('.rating-row[data-dim="' + key + '"] .name');
    return row ? row.textContent : key;
  }

  function render(key) {
    if (!key || key === shownKey) return;
    shownKey = key;
    const byLevel = examples[key] || {};
    const name = dimName(key);
    strip.dataset.dim = key;
    strip.querySelectorAll(".ex-cell").forEach((cell) => {
      const level = cell.dataset.level;
      const levelName = cell.querySelector(".ex-name").textContent;
      const list = byLevel[level] || [];
      const box = cell.querySelector(".ex-thumbs");
      box.textContent = "";
      if (!list.length) {
        const none = document.createElement("span");
        none.className = "ex-none";
        none.textContent = "—";
        none.title = "No example chosen for this level yet";
        box.appendChild(none);
        return;
      }
      list.forEach((ex, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "ex-thumb";
        const label = "Example " + (i + 1) + " of " + list.length + " of " + levelName + " for " + name;
        button.setAttribute("aria-label", label + ": open larger");
        const img = document.createElement("img");
        img.src = ex.thumb_url;
        img.alt = "";
        img.loading = "lazy";
        button.appendChild(img);
        button.addEventListener("click", () => show({ name, level: levelName, list, i }));
        box.appendChild(button);
      });
    });
  }

  function show(state) {
    open = state;
    const ex = state.list[state.i];
    title.textContent = state.level + " — " + state.name + " (example " + (state.i + 1) + " of " + state.list.length + ")";
    big.src = ex.image_url;
    big.alt = "Example of " + state.level + " for " + state.name;
    prev.disabled = state.list.length < 2;
    next.disabled = state.list.length < 2;
    if (!dialog.open) dialog.showModal();
  }
  function stepBy(delta) {
    if (!open || open.list.length < 2) return;
    show(Object.assign({}, open, { i: (open.i + delta + open.list.length) % open.list.length }));
  }
  prev.addEventListener("click", () => stepBy(-1));
  next.addEventListener("click", () => stepBy(1));
  dialog.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowLeft") { ev.preventDefault(); stepBy(-1); }
    else if (ev.key === "ArrowRight") { ev.preventDefault(); stepBy(1); }
    if (ev.key !== "Escape") ev.stopPropagation(); // the workspace's shortcuts stay off while it is open
  });
  dialog.addEventListener("close", () => { open = null; });

  rating.addEventListener("focusin", (ev) => {
    const row = ev.target.closest && ev.target.closest(".rating-row");
    if (row) render(row.dataset.dim);
  });
  const first = rating.querySelector(".rating-row");
  if (first) render(first.dataset.dim);
})();
