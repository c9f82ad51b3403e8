// The qualification exam: one image at a time, no feedback. Answers are stored on the server as they are
// saved and come back with the form, so a reload (or Previous) shows them again. "Submit the exam" is
// enabled only once every image has a stored answer; the counter says how many are left.
"use strict";
(function () {
  const API = "/api/qualification/me/exam/";
  const dims = JSON.parse(document.getElementById("dims").textContent);
  const error = document.getElementById("exam-error");
  const save = document.getElementById("exam-save");
  const prev = document.getElementById("exam-prev");
  const submit = document.getElementById("exam-submit");
  const left = document.getElementById("exam-left");
  const saved = {}; // position -> stored scores
  let exam = null;
  let index = 0;
  const rating = HB.mountRating(document.getElementById("exam-rating"), dims, {
    onChange(values, missing) {
      save.disabled = !exam || missing.length > 0;
      document.getElementById("exam-untouched").textContent = missing.length ? missing.length + " dimension(s) still to rate." : "";
    },
  });

  function refreshSubmit() {
    const open = exam.items.filter((it) => !saved[it.position]).length;
    submit.disabled = open > 0;
    left.textContent = open ? open + " of " + exam.items.length + " image(s) still to answer before you can submit." : "Every image is answered: you can submit.";
  }

  function show(i) {
    index = i;
    const item = exam.items[i];
    document.getElementById("exam-image").src = item.image;
    document.getElementById("exam-progress").textContent = "image " + (i + 1) + " of " + exam.items.length;
    rating.reset();
    const previous = saved[item.position];
    if (previous) Object.entries(previous).forEach(([k, v]) => { if (v !== null && v !== undefined) rating.set(k, v); });
    prev.disabled = i === 0;
    save.textContent = previous ? "Save changes and next" : "Save and next";
    refreshSubmit();
  }

  save.addEventListener("click", async () => {
    const item = exam.items[index];
    save.disabled = true;
    error.textContent = "";
    try {
      const scores = rating.values();
      await HB.api(API + exam.id + "/answer/", { method: "POST", body: { position: item.position, scores } });
      saved[item.position] = scores;
      item.answered = true;
      const nextIndex = exam.items.findIndex((it, j) => j > index && !saved[it.position]);
      const firstOpen = exam.items.findIndex((it) => !saved[it.position]);
      show(nextIndex >= 0 ? nextIndex : firstOpen >= 0 ? firstOpen : index);
    } catch (e) { error.textContent = e.message; save.disabled = false; }
  });
  prev.addEventListener("click", () => show(Math.max(0, index - 1)));
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    error.textContent = "";
    try {
      const result = await HB.api(API + exam.id + "/submit/", { method: "POST" });
      location.href = "/qualification/result/" + result.id + "/";
    } catch (e) { error.textContent = e.message; refreshSubmit(); }
  });
  HB.api(API + "start/", { method: "POST" }).then((data) => {
    exam = data;
    exam.items.forEach((it) => { if (it.answered && it.scores) saved[it.position] = it.scores; });
    document.getElementById("exam-work").hidden = false;
    const firstOpen = exam.items.findIndex((it) => !saved[it.position]);
    show(firstOpen >= 0 ? firstOpen : 0);
  }).catch((e) => { error.textContent = e.message; });
})();
