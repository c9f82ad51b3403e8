// The scoring workspace (crowd-quality.md §7): one image, every dimension of the standard via HB.mountRating
// (grouped by hierarchy, ITU labels, no ticks, no pre-placed thumb); submit is enabled only once every
// dimension was touched. The lease is kept alive by a heartbeat while the page is open; skip, can't judge
// and report give the image back. Nothing about other raters or model scores is ever shown.
"use strict";
(function () {
  const dims = JSON.parse(document.getElementById("dims-data").textContent);
  const img = document.getElementById("subject");
  const empty = document.getElementById("empty");
  const submitBtn = document.getElementById("submit");
  const todo = document.getElementById("todo");
  const errorBox = document.getElementById("error");
  const sessionCount = document.getElementById("session-count");
  const totalCount = document.getElementById("total-count");
  const leaseInfo = document.getElementById("lease-info");
  const buttons = ["submit", "skip", "cantjudge", "report"].map((id) => document.getElementById(id));
  let current = null;
  let shownAt = 0;
  let heartbeat = null;
  let busy = false;

  const rating = HB.mountRating(document.getElementById("rating"), dims, {
    onChange(values, untouched) {
      submitBtn.disabled = busy || !current || untouched.length > 0;
      todo.textContent = current && untouched.length ? untouched.length + " dimension(s) left to rate" : "";
    },
  });

  function setBusy(flag) {
    busy = flag;
    buttons.forEach((b) => { b.disabled = flag || !current; });
    submitBtn.disabled = flag || !current || rating.untouched().length > 0;
  }

  function stopHeartbeat() { if (heartbeat) { clearInterval(heartbeat); heartbeat = null; } }

  function startHeartbeat(ttl) {
    stopHeartbeat();
    const every = Math.max(10, Math.floor((ttl || 300) / 3)) * 1000;
    heartbeat = setInterval(async () => {
      try {
        const r = await HB.api("/api/scoring/lease/heartbeat/", { method: "POST" });
        leaseInfo.textContent = "held until " + new Date(r.expires_at).toLocaleTimeString();
      } catch (e) {
        stopHeartbeat();
        if (e.status === 409) { loadNext(); }
      }
    }, every);
  }

  function show(item) {
    current = item;
    errorBox.textContent = "";
    rating.reset();
    if (!item) {
      img.hidden = true;
      img.removeAttribute("src");
      empty.hidden = false;
      rating.setDisabled(true);
      stopHeartbeat();
      leaseInfo.textContent = "";
      setBusy(false);
      return;
    }
    empty.hidden = true;
    img.hidden = false;
    img.src = item.image_url;
    img.dataset.image = item.image;
    rating.setDisabled(false);
    shownAt = performance.now();
    leaseInfo.textContent = "held until " + new Date(item.expires_at).toLocaleTimeString();
    startHeartbeat(item.lease_ttl_s);
    setBusy(false);
    todo.textContent = dims.length + " dimension(s) left to rate";
  }

  async function loadNext() {
    setBusy(true);
    try {
      const r = await HB.api("/api/scoring/next/", { method: "POST" });
      show(r.item);
    } catch (e) {
      errorBox.textContent = e.message;
      setBusy(false);
    }
  }

  async function submit() {
    if (!current || rating.untouched().length) return;
    setBusy(true);
    try {
      // One round trip: the answer carries the next image (``next: true``).
      const r = await HB.api("/api/scoring/ratings/", {
        method: "POST",
        body: {
          image: current.image,
          scores: rating.values(),
          dwell_ms: Math.round(performance.now() - shownAt),
          next: true,
        },
      });
      if (r.created) {
        sessionCount.textContent = String(Number(sessionCount.textContent) + 1);
        totalCount.textContent = String(Number(totalCount.textContent) + 1);
      }
      show(r.next.item);
    } catch (e) {
      errorBox.textContent = e.message;
      if (e.status === 409) { await loadNext(); } else { setBusy(false); }
    }
  }

  async function giveBack(reason, note) {
    if (!current) return;
    setBusy(true);
    try {
      await HB.api("/api/scoring/lease/skip/", { method: "POST", body: { reason, note: note || "" } });
    } catch (e) {
      if (e.status !== 404) { errorBox.textContent = e.message; }
    }
    await loadNext();
  }

  submitBtn.addEventListener("click", submit);
  document.getElementById("skip").addEventListener("click", () => giveBack("skip"));
  document.getElementById("cantjudge").addEventListener("click", () => giveBack("cant_judge"));
  document.getElementById("report").addEventListener("click", () => {
    const note = window.prompt("What is wrong with this image? (e.g. not a person, offensive, duplicate)");
    if (note !== null) giveBack("report", note);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !submitBtn.disabled) { ev.preventDefault(); submit(); }
  });
  window.addEventListener("beforeunload", stopHeartbeat);
  loadNext();
})();
