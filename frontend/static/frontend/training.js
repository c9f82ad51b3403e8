// Qualification training: rate an image, then see the experts' answer drawn on the same scales (the
// experts' mean ± SD as a band with a tick at the mean, your mark as a dot) with one sentence per
// dimension in the scale's own level words, and the experts' rationale under it.
"use strict";
(function () {
  const API = "/api/qualification/me/";
  const dims = JSON.parse(document.getElementById("dims").textContent);
  const names = Object.fromEntries(dims.map((d) => [d.key, d.name]));
  const start = document.getElementById("start-training");
  const startError = document.getElementById("start-error");
  if (start) start.addEventListener("click", async () => {
    start.disabled = true;
    try { await HB.api(API + "training/start/", { method: "POST" }); location.reload(); }
    catch (e) { start.disabled = false; if (startError) startError.textContent = e.message; }
  });
  const box = document.getElementById("training");
  if (!box) return;
  const work = document.getElementById("training-work");
  const submit = document.getElementById("training-submit");
  const untouched = document.getElementById("training-untouched");
  const error = document.getElementById("training-error");
  const feedback = document.getElementById("feedback");
  let current = null;
  const rating = HB.mountRating(document.getElementById("training-rating"), dims, {
    onChange(values, missing) {
      submit.disabled = missing.length > 0 || current === null;
      untouched.textContent = missing.length ? missing.length + " dimension(s) still to rate." : "";
    },
  });
  // Retraining: mark the dimensions the failed exam flagged, on the scales and in the feedback.
  const focus = new Set(JSON.parse(document.getElementById("focus").textContent) || []);
  const focusTag = () => { const t = document.createElement("span"); t.className = "focus-tag"; t.textContent = "focus"; return t; };
  focus.forEach((key) => {
    const row = document.querySelector('#training-rating .rating-row[data-dim="' + key + '"]');
    if (row) { row.classList.add("focus"); row.querySelector(".name").appendChild(focusTag()); }
  });
  const pct = (v) => (Math.min(1, Math.max(0, v)) * 100).toFixed(1) + "%";
  const level = (v) => HB.ratingLevel(v).toLowerCase();

  function sentence(d) {
    const experts = "Experts: " + level(d.expert_mean) + " (" + d.expert_mean.toFixed(2) +
      (d.expert_sd !== null && d.expert_sd !== undefined ? " ± " + d.expert_sd.toFixed(2) : "") + ")";
    if (d.yours === null || d.yours === undefined) return experts + "; you did not rate it.";
    const diff = d.yours - d.expert_mean;
    const sd = d.expert_sd || 0;
    const near = Math.abs(diff) <= Math.max(sd, 0.05);
    return "You: " + level(d.yours) + " (" + d.yours.toFixed(2) + "). " + experts + ". " +
      (near ? "Within the experts' spread." : Math.abs(diff).toFixed(2) + (diff > 0 ? " higher" : " lower") + " than the experts.");
  }

  function drawRow(d) {
    const row = document.createElement("div");
    row.className = "fb-row";
    row.dataset.dim = d.key;
    const name = document.createElement("div");
    name.className = "fb-name";
    name.textContent = names[d.key] || d.key;
    if (d.focus) { row.classList.add("focus"); row.dataset.focus = "1"; name.appendChild(focusTag()); }
    const scale = document.createElement("div");
    scale.className = "fb-scale";
    scale.setAttribute("role", "img");
    const band = document.createElement("span");
    band.className = "fb-band";
    const sd = d.expert_sd || 0;
    band.style.left = pct(d.expert_mean - sd);
    band.style.width = pct(Math.min(1, d.expert_mean + sd) - Math.max(0, d.expert_mean - sd));
    const mean = document.createElement("span");
    mean.className = "fb-mean";
    mean.style.left = pct(d.expert_mean);
    scale.append(band, mean);
    if (d.yours !== null && d.yours !== undefined) {
      const you = document.createElement("span");
      you.className = "fb-you";
      you.style.left = pct(d.yours);
      scale.appendChild(you);
    }
    const labels = document.createElement("div");
    labels.className = "fb-labels";
    ["Bad", "Poor", "Fair", "Good", "Excellent"].forEach((l) => { const s = document.createElement("span"); s.textContent = l; labels.appendChild(s); });
    scale.appendChild(labels);
    const text = document.createElement("p");
    text.className = "fb-text";
    text.textContent = sentence(d);
    scale.setAttribute("aria-label", text.textContent);
    row.append(name, scale, text);
    if (d.rationale) {
      const why = document.createElement("p");
      why.className = "fb-why muted";
      why.textContent = d.rationale;
      row.appendChild(why);
    }
    return row;
  }

  async function next() {
    error.textContent = "";
    const data = await HB.api(API + "training/next/", { method: "POST" });
    document.getElementById("training-progress").textContent = data.done + " of " + data.needed;
    if (!data.item) { work.hidden = true; document.getElementById("training-done").hidden = false; return; }
    current = data.item;
    document.getElementById("training-image").src = data.item.image;
    feedback.hidden = true;
    rating.el.hidden = false;
    rating.reset(); rating.setDisabled(false);
    submit.hidden = false; submit.disabled = true;
    work.hidden = false;
  }

  submit.addEventListener("click", async () => {
    submit.disabled = true;
    try {
      const fb = await HB.api(API + "training/" + current.id + "/answer/", { method: "POST", body: { scores: rating.values() } });
      rating.setDisabled(true);
      rating.el.hidden = true;
      submit.hidden = true;
      untouched.textContent = "";
      document.getElementById("feedback-rows").replaceChildren(...fb.dimensions.map(drawRow));
      document.getElementById("training-progress").textContent = fb.done + " of " + fb.needed;
      feedback.hidden = false;
      document.getElementById("training-next").focus();
      current = null;
    } catch (e) { error.textContent = e.message; submit.disabled = false; }
  });
  document.getElementById("training-next").addEventListener("click", () => next().catch((e) => { error.textContent = e.message; }));
  next().catch((e) => { error.textContent = e.message; work.hidden = false; });
})();
