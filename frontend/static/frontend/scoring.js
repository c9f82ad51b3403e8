// The scoring workspace (docs/scoring.md, "The workspace"): one image, pinned and whole, with zoom (wheel,
// pinch, keys), pan (drag), 1:1 and full screen; every dimension of the standard on one compact scale each
// (HB.mountRating); the chosen dimension's level definitions shown above the scales (no hover needed, so
// touch screens get them). Keys for everything (the `?` legend lists them). Submit is enabled once every
// dimension is set; its answer carries the next image (one round trip). The lease is kept alive by a
// heartbeat and counted down on the page; skip, can't judge and report give the image back. The rater's own
// recent ratings can be reopened and changed within the amend window. Nothing about other raters or model
// scores is ever shown.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const dims = JSON.parse($("dims-data").textContent);
  // The page renders one standard's dimensions; an item of another standard reloads it for that one.
  const pageStandard = $("workspace").dataset.standard;
  const img = $("subject");
  const stage = $("stage");
  const viewer = $("viewer");
  const empty = $("empty");
  const submitBtn = $("submit");
  const todo = $("todo");
  const errorBox = $("error");
  const leaseInfo = $("lease-info");
  const actionButtons = ["submit", "skip", "cantjudge", "report", "undo"].map($);
  const LEVEL_CENTRES = [0.1, 0.3, 0.5, 0.7, 0.9];
  let current = null;
  let shownAt = 0;
  let heartbeat = null;
  let countdown = null;
  let expiresAt = 0;
  let busy = false;
  let undoStack = [];
  let undoing = false;
  let activeKey = null;

  // ------------------------------------------------------------------ scales and level definitions
  let rating = null;  // assigned just below; onChange may run before (it checks)
  rating = HB.mountRating($("rating"), dims, {
    compact: true,
    onChange(values, untouched) {
      const uncommented = rating ? rating.missingComments().length : 0;
      submitBtn.disabled = busy || !current || untouched.length > 0 || uncommented > 0;
      todo.textContent = !current ? "" : untouched.length ? untouched.length + " of " + dims.length + " dimensions left · 1–5 sets a level, ? lists the keys"
        : uncommented ? uncommented + (uncommented === 1 ? " comment" : " comments") + " left: each scored attribute needs one." : "All set: Enter submits.";
    },
    onSet(key, before) { if (!undoing) undoStack.push({ key, before }); },
    onFocus(dim) { activeKey = dim.key; showDefinition(dim); },
  });
  const order = rating.order();

  function showDefinition(dim) {
    $("def-name").textContent = dim.name + ":";
    $("def-guideline").textContent = dim.guideline || "";
    $("def-low").textContent = dim.low_anchor || "—";
    $("def-high").textContent = dim.high_anchor || "—";
  }
  showDefinition(rating.dim(order[0]));

  function choose(key) { if (key) rating.focus(key); }
  function step(delta) {
    const i = activeKey ? order.indexOf(activeKey) : -1;
    choose(order[Math.min(order.length - 1, Math.max(0, i + delta))]);
  }
  function nextUnrated(afterKey) {
    const missing = new Set(rating.untouched());
    const start = afterKey ? order.indexOf(afterKey) + 1 : 0;
    for (let n = 0; n < order.length; n++) {
      const key = order[(start + n) % order.length];
      if (missing.has(key)) return key;
    }
    return null;
  }
  function setLevel(digit) {
    const key = activeKey || order[0];
    rating.set(key, LEVEL_CENTRES[digit - 1]);
    const next = nextUnrated(key);
    if (next) choose(next); else submitBtn.focus();
  }
  function undo() {
    const last = undoStack.pop();
    if (!last) { openHistory(true); return; }
    undoing = true;
    if (last.before === null) rating.clear(last.key); else rating.set(last.key, last.before);
    undoing = false;
    choose(last.key);
  }

  // ------------------------------------------------------------------ image view: fit, zoom, pan, full screen
  const view = { s: 1, x: 0, y: 0, fit: true };
  const pointers = new Map();
  let pinch = null;
  function fitScale() {
    if (!img.naturalWidth) return 1;
    return Math.min(stage.clientWidth / img.naturalWidth, stage.clientHeight / img.naturalHeight);
  }
  function apply() {
    img.style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.s + ")";
    $("zoom-level").textContent = view.fit ? "Fit" : Math.round(view.s * 100) + "%";
  }
  function fit() {
    view.s = fitScale();
    view.x = (stage.clientWidth - img.naturalWidth * view.s) / 2;
    view.y = (stage.clientHeight - img.naturalHeight * view.s) / 2;
    view.fit = true;
    apply();
  }
  function zoomAt(factor, cx, cy) {
    const min = fitScale() * 0.5;
    const s = Math.min(8, Math.max(min, view.s * factor));
    if (cx === undefined) { cx = stage.clientWidth / 2; cy = stage.clientHeight / 2; }
    view.x = cx - ((cx - view.x) * s) / view.s;
    view.y = cy - ((cy - view.y) * s) / view.s;
    view.s = s;
    view.fit = false;
    apply();
  }
  function actualPixels() { zoomAt(1 / view.s); }
  function fullScreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen().catch(() => {});
  }
  img.addEventListener("load", fit);
  window.addEventListener("resize", () => { if (view.fit) fit(); });
  document.addEventListener("fullscreenchange", () => requestAnimationFrame(fit));
  stage.addEventListener("wheel", (ev) => {
    if (img.hidden) return;
    ev.preventDefault();
    const r = stage.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  stage.addEventListener("pointerdown", (ev) => {
    if (img.hidden) return;
    stage.setPointerCapture(ev.pointerId);
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) };
    }
  });
  stage.addEventListener("pointermove", (ev) => {
    const p = pointers.get(ev.pointerId);
    if (!p) return;
    if (pointers.size === 2 && pinch) {
      p.x = ev.clientX; p.y = ev.clientY;
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      const r = stage.getBoundingClientRect();
      zoomAt(d / pinch.d, (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
      pinch.d = d;
      return;
    }
    view.x += ev.clientX - p.x;
    view.y += ev.clientY - p.y;
    p.x = ev.clientX; p.y = ev.clientY;
    view.fit = false;
    apply();
  });
  const release = (ev) => { pointers.delete(ev.pointerId); if (pointers.size < 2) pinch = null; };
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);
  stage.addEventListener("dblclick", () => (view.fit ? actualPixels() : fit()));
  $("zoom-in").addEventListener("click", () => zoomAt(1.25));
  $("zoom-out").addEventListener("click", () => zoomAt(0.8));
  $("zoom-fit").addEventListener("click", fit);
  $("zoom-1").addEventListener("click", actualPixels);
  $("fullscreen").addEventListener("click", fullScreen);

  // ------------------------------------------------------------------ lease, progress
  function setBusy(flag) {
    busy = flag;
    actionButtons.forEach((b) => { b.disabled = flag || !current; });
    submitBtn.disabled = flag || !current || rating.untouched().length > 0;
  }
  function stopTimers() {
    if (heartbeat) { clearInterval(heartbeat); heartbeat = null; }
    if (countdown) { clearInterval(countdown); countdown = null; }
  }
  function renderLease() {
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    leaseInfo.textContent = "lease " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    leaseInfo.classList.toggle("warn", left < 60);
  }
  function startTimers(ttl) {
    stopTimers();
    const every = Math.max(10, Math.floor((ttl || 300) / 3)) * 1000;
    heartbeat = setInterval(async () => {
      try {
        const r = await HB.api("/api/scoring/lease/heartbeat/", { method: "POST" });
        expiresAt = Date.parse(r.expires_at);
      } catch (e) {
        stopTimers();
        if (e.status === 409 || e.status === 404) { errorBox.textContent = "The lease ended; here is another image."; loadNext(); }
      }
    }, every);
    countdown = setInterval(renderLease, 1000);
    renderLease();
  }
  let history = [];
  async function refreshProgress() {
    try {
      const r = await HB.api("/api/scoring/ratings/mine/");
      history = r.items;
      const p = r.progress;
      $("session-count").textContent = String(p.session);
      $("session-goal").textContent = String(p.session_goal);
      $("session-bar").max = p.session_goal;
      $("session-bar").value = Math.min(p.session, p.session_goal);
      $("total-count").textContent = String(p.total);
      $("pool-pct").textContent = (p.pool_total ? Math.floor((100 * p.pool_complete) / p.pool_total) : 0) + "%";
    } catch (e) { /* progress is informative only */ }
  }

  // ------------------------------------------------------------------ the queue
  function show(item) {
    if (item && pageStandard && item.standard !== pageStandard) {
      window.location.replace("?standard=" + encodeURIComponent(item.standard));  // the lease is kept
      return;
    }
    current = item;
    undoStack = [];
    rating.reset();
    if (!item) {
      img.hidden = true;
      img.removeAttribute("src");
      empty.hidden = false;
      rating.setDisabled(true);
      stopTimers();
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
    expiresAt = Date.parse(item.expires_at);
    startTimers(item.lease_ttl_s);
    setBusy(false);
    todo.textContent = dims.length + " of " + dims.length + " dimensions left · 1–5 sets a level, ? lists the keys";
    choose(order[0]);
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
    if (!current || busy || rating.untouched().length || rating.missingComments().length) return;
    setBusy(true);
    errorBox.textContent = "";
    try {
      const r = await HB.api("/api/scoring/ratings/", {
        method: "POST",
        body: { image: current.image, scores: rating.values(), comments: rating.comments(), dwell_ms: Math.round(performance.now() - shownAt), next: true },
      });
      if (r.created) $("session-count").textContent = String(Number($("session-count").textContent) + 1);
      show(r.next.item);
      refreshProgress();
    } catch (e) {
      errorBox.textContent = e.message;
      if (e.status === 409) { await loadNext(); } else { setBusy(false); }
    }
  }

  async function giveBack(reason, note) {
    if (!current || busy) return;
    setBusy(true);
    errorBox.textContent = "";
    try {
      await HB.api("/api/scoring/lease/skip/", { method: "POST", body: { reason, note: note || "" } });
    } catch (e) {
      if (e.status !== 404) { errorBox.textContent = e.message; }
    }
    await loadNext();
  }

  // ------------------------------------------------------------------ dialogs: keys, report, history
  const keysDialog = $("keys-dialog");
  const reportDialog = $("report-dialog");
  const historyDialog = $("history-dialog");
  const anyDialogOpen = () => keysDialog.open || reportDialog.open || historyDialog.open;
  function toggleKeys() { if (keysDialog.open) keysDialog.close(); else keysDialog.showModal(); }
  function openReport() { if (current && !busy) { $("report-form").reset(); reportDialog.showModal(); } }
  $("keys-open").addEventListener("click", toggleKeys);
  $("report").addEventListener("click", openReport);
  $("report-cancel").addEventListener("click", () => reportDialog.close());
  $("report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const note = f.why.value + (f.note.value.trim() ? ": " + f.note.value.trim() : "");
    reportDialog.close();
    giveBack("report", note);
  });

  let amending = null;
  const amendRating = HB.mountRating($("amend-rating"), dims, { compact: true, comments: false });
  function timeLeft(until) {
    const s = Math.max(0, Math.round((Date.parse(until) - Date.now()) / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function renderHistory() {
    const list = $("history-list");
    list.replaceChildren(...history.map((h) => {
      const li = document.createElement("li");
      const thumb = document.createElement("img");
      thumb.src = h.thumb_url;
      thumb.alt = "Rated image";
      const text = document.createElement("span");
      const when = new Date(h.created_at);
      text.textContent = when.toLocaleTimeString() + " · overall " + (h.scores.overall === null || h.scores.overall === undefined ? "—" : h.scores.overall.toFixed(2)) +
        (h.amendable ? (ofThisStandard(h) ? " · can be changed for " + timeLeft(h.amendable_until) : " · another standard") : " · closed");
      li.append(thumb, text);
      if (h.amendable && ofThisStandard(h)) {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.className = "secondary small";
        edit.textContent = "Change";
        edit.dataset.rating = h.id;
        edit.addEventListener("click", () => startAmend(h));
        li.appendChild(edit);
      }
      return li;
    }));
    if (!history.length) { const li = document.createElement("li"); li.textContent = "No ratings yet."; list.appendChild(li); }
  }
  // A rating of another standard than the page's is listed but changed from a page of its own standard.
  function ofThisStandard(h) { return Object.keys(h.scores).every((k) => amendRating.dim(k)); }
  function startAmend(h) {
    if (!ofThisStandard(h)) return;
    amending = h;
    $("amend").hidden = false;
    $("amend-error").textContent = "";
    $("amend-image").src = h.thumb_url;
    $("amend-until").textContent = "Open until " + new Date(h.amendable_until).toLocaleTimeString() + ".";
    amendRating.reset();
    Object.entries(h.scores).forEach(([k, v]) => { if (v !== null && v !== undefined) amendRating.set(k, v); });
    amendRating.focus(dims[0].key);
  }
  async function openHistory(editLatest) {
    await refreshProgress();
    $("amend").hidden = true;
    renderHistory();
    if (!historyDialog.open) historyDialog.showModal();
    if (editLatest && history.length && history[0].amendable) startAmend(history[0]);
  }
  $("history-open").addEventListener("click", () => openHistory(false));
  $("amend-cancel").addEventListener("click", () => { $("amend").hidden = true; amending = null; });
  $("amend-save").addEventListener("click", async () => {
    if (!amending) return;
    const restore = HB.busy($("amend-save"), "Saving…");
    try {
      await HB.api("/api/scoring/ratings/" + amending.id + "/", { method: "PATCH", body: { scores: amendRating.values() } });
      restore();
      amending = null;
      await openHistory(false);
    } catch (e) { restore(); $("amend-error").textContent = e.message; }
  });
  historyDialog.addEventListener("close", () => { amending = null; if (activeKey) choose(activeKey); });

  // ------------------------------------------------------------------ keys
  submitBtn.addEventListener("click", submit);
  $("skip").addEventListener("click", () => giveBack("skip"));
  $("cantjudge").addEventListener("click", () => giveBack("cant_judge"));
  $("undo").addEventListener("click", undo);
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
    if (ev.key === "?" && !typing) { ev.preventDefault(); if (!reportDialog.open && !historyDialog.open) toggleKeys(); return; }
    if (anyDialogOpen() || typing || ev.altKey) return;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey || !(t && t.tagName === "BUTTON"))) {
      if (!submitBtn.disabled) { ev.preventDefault(); submit(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey) { if (ev.key === "z") { ev.preventDefault(); undo(); } return; }
    if (!current) return;
    const inScale = t && t.classList && t.classList.contains("scale");
    switch (ev.key) {
      case "1": case "2": case "3": case "4": case "5": setLevel(Number(ev.key)); break;
      case "j": step(1); break;
      case "k": step(-1); break;
      case "n": choose(nextUnrated(activeKey) || activeKey); break;
      case "s": giveBack("skip"); break;
      case "c": giveBack("cant_judge"); break;
      case "r": openReport(); break;
      case "u": undo(); break;
      case "h": openHistory(false); break;
      case "+": case "=": zoomAt(1.25); break;
      case "-": zoomAt(0.8); break;
      case "0": fit(); break;
      case "z": actualPixels(); break;
      case "f": fullScreen(); break;
      case "ArrowLeft": case "ArrowRight": case "ArrowUp": case "ArrowDown": case "Home": case "End": {
        if (inScale) return; // the focused scale handles its own keys
        // Focus is elsewhere (e.g. on Submit after the last digit): fine-tune the chosen dimension.
        const key = activeKey || order[0];
        const v = rating.values()[key];
        const delta = (ev.shiftKey ? 0.05 : 0.01) * (ev.key === "ArrowRight" || ev.key === "ArrowUp" ? 1 : -1);
        rating.set(key, ev.key === "Home" ? 0 : ev.key === "End" ? 1 : v === null ? 0.5 : v + delta);
        choose(key);
        break;
      }
      default: return;
    }
    ev.preventDefault();
  });
  window.addEventListener("beforeunload", stopTimers);
  loadNext();
  refreshProgress();
})();
