// Campaign form: filter the volunteer list by name; select all / none of the visible ones.
"use strict";
document.querySelectorAll(".volunteer-pick").forEach((box) => {
  const filter = box.querySelector(".pick-filter");
  const rows = [...box.querySelectorAll(".pick-list label")];
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    rows.forEach((r) => { r.hidden = q !== "" && !r.textContent.toLowerCase().includes(q); });
  });
  box.querySelectorAll("button[data-pick]").forEach((b) => b.addEventListener("click", () => {
    rows.filter((r) => !r.hidden).forEach((r) => { r.querySelector("input").checked = b.dataset.pick === "all"; });
  }));
});
