// Review queue keys: j/k move between submissions, x selects one for a bulk decision, a approves the
// current one, r focuses its reason (pick a preset or type, Enter rejects), u undoes the latest decision (while
// the server still allows it). The bulk bar counts the selection.
"use strict";
(function () {
  const items = [...document.querySelectorAll("section.review-item")];
  const picks = [...document.querySelectorAll("input.bulk-pick")];
  const count = document.getElementById("bulk-count");
  let index = -1;
  function refreshCount() { if (count) count.textContent = String(picks.filter((p) => p.checked).length); }
  picks.forEach((p) => p.addEventListener("change", refreshCount));
  const all = document.getElementById("select-all");
  if (all) all.addEventListener("click", () => { const on = picks.some((p) => !p.checked); picks.forEach((p) => { p.checked = on; }); refreshCount(); });
  function go(i) {
    if (!items.length) return;
    index = Math.max(0, Math.min(items.length - 1, i));
    items.forEach((el, j) => el.classList.toggle("active", j === index));
    items[index].focus();
    items[index].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const item = items[index];
    switch (ev.key) {
      case "j": go(index + 1); break;
      case "k": go(index - 1); break;
      case "x": if (item) { const p = item.querySelector("input.bulk-pick"); p.checked = !p.checked; refreshCount(); } break;
      case "a": if (item) item.querySelector("form.decide button[value=approve]").click(); break;
      case "r": if (item) {
        const reason = item.querySelector("form.decide input[name=reason]");
        reason.focus();
        if (!reason.dataset.enterRejects) {  // Enter in the reason box rejects, however much was typed first
          reason.dataset.enterRejects = "1";
          reason.addEventListener("keydown", (e) => {
            if (e.key === "Enter") { e.preventDefault(); item.querySelector("form.decide button[value=reject]").click(); }
          });
        }
      } break;
      case "u": {
        const undo = document.querySelector("button[data-undo-latest]");
        if (!undo) return;
        undo.click();
      } break;
      default: return;
    }
    ev.preventDefault();
  });
  refreshCount();
})();
