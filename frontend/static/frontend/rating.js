// The shared rating widget: continuous 0–1 sliders, one per dimension of a standard, grouped by the
// standard's hierarchy (leaves under their parent, the parent last in its group, the root "overall" last).
// BT.500 continuous scale: five ITU labels on equal segments, no tick marks, no thumb until the first
// click or key press (so no default value anchors the rater). Values are stored to 0.01.
//
//   const rating = HB.mountRating(container, dims, { onChange(values, untouched) {} });
//   rating.values()     -> { key: number | null }   (null = not touched yet)
//   rating.untouched()  -> [key, ...]               (dimensions the rater has not set)
//   rating.reset()      -> clears every slider (no thumb again)
//   rating.setDisabled(bool)
//   rating.set(key, v) / rating.clear(key) / rating.focus(key) / rating.order() (keys in visual order)
//   rating.comments()   -> { key: text }            (non-empty comments of dimensions that ask for one)
//   rating.missingComments() -> [key, ...]          (scored dimensions whose required comment is empty)
//
// Options: ``onChange(values, untouched)``; ``onSet(key, before, after)`` after every change (for undo);
// ``onFocus(dim)`` when a scale gets focus (the page shows that dimension's level definitions);
// ``compact`` (one line per dimension, for the scoring workspace); ``comments: false`` leaves out the comment
// boxes (the amend dialog changes scores only; the stored comments stand).
//
// ``dims`` is the ``dimensions`` list of GET /api/standards/<key>/: [{key, name, parent, order, guideline,
// low_anchor, high_anchor, asks_comment, comment_required}, ...]; a dimension that asks for a comment gets a
// one-line text box under its scale (ArtiMuse-style standards require one per scored attribute). Keyboard: arrows ±0.01, Shift+arrows or PageUp/PageDown ±0.05,
// Home 0, End 1; the first arrow press places the thumb at 0.50.
"use strict";
(function () {
  const LABELS = ["Bad", "Poor", "Fair", "Good", "Excellent"];
  const SHORT = ["Bad", "Poor", "Fair", "Good", "Exc."];
  const UNRATED = "not rated yet";

  function level(v) {
    return LABELS[Math.min(4, Math.floor(v * 5 + 1e-9))];
  }

  function round2(v) {
    return Math.round(Math.min(1, Math.max(0, v)) * 100) / 100;
  }

  // Ordered groups: [{title, dims: [...]}, ...] following the hierarchy.
  function groupDims(dims) {
    const byKey = {};
    const children = {};
    dims.forEach((d) => { byKey[d.key] = d; children[d.key] = []; });
    dims.forEach((d) => { if (d.parent && byKey[d.parent]) children[d.parent].push(d); });
    Object.values(children).forEach((list) => list.sort((a, b) => a.order - b.order));
    const roots = dims.filter((d) => !d.parent || !byKey[d.parent]).sort((a, b) => a.order - b.order);
    const groups = [];
    function leavesOf(d) {
      const out = [];
      children[d.key].forEach((c) => { out.push(...(children[c.key].length ? [...leavesOf(c), c] : [c])); });
      return out;
    }
    roots.forEach((root) => {
      const loose = [];
      children[root.key].forEach((child) => {
        if (children[child.key].length) {
          groups.push({ title: child.name, dims: [...leavesOf(child), child] });
        } else {
          loose.push(child);
        }
      });
      // Several childless attributes (ArtiMuse's seven) form one group with no heading (their names say it).
      if (loose.length > 1) groups.push({ title: "", dims: loose });
      else loose.forEach((child) => groups.push({ title: child.name, dims: [child] }));
      groups.push({ title: root.name, dims: [root], root: true });
    });
    return groups;
  }

  function mountRating(container, dims, options = {}) {
    const onChange = options.onChange || function () {};
    const onSet = options.onSet || function () {};
    const onFocus = options.onFocus || function () {};
    const byKey = Object.fromEntries(dims.map((d) => [d.key, d]));
    const order = [];
    const values = {};
    const scales = {};
    const comments = {};
    container.innerHTML = "";
    container.classList.add("rating");
    if (options.compact) container.classList.add("compact");

    function emit() {
      onChange(api.values(), api.untouched());
    }

    function setValue(key, v) {
      const scale = scales[key];
      const value = round2(v);
      const before = values[key];
      values[key] = value;
      scale.classList.add("touched");
      scale.querySelector(".thumb-dot").style.left = value * 100 + "%";
      scale.setAttribute("aria-valuenow", value.toFixed(2));
      scale.setAttribute("aria-valuetext", value.toFixed(2) + " (" + level(value) + ")");
      const shown = scale.parentElement.querySelector(".value");
      shown.textContent = value.toFixed(2) + " ";
      const word = document.createElement("span");
      word.className = "value-level";
      word.textContent = level(value);
      shown.appendChild(word);
      if (before !== value) onSet(key, before, value);
      emit();
    }

    function clearValue(key) {
      const s = scales[key];
      const before = values[key];
      values[key] = null;
      s.classList.remove("touched");
      s.setAttribute("aria-valuenow", "0");
      s.setAttribute("aria-valuetext", UNRATED);
      s.parentElement.querySelector(".value").textContent = "";
      if (before !== null) onSet(key, before, null);
      emit();
    }

    function build(dim) {
      const row = document.createElement("div");
      row.className = "rating-row";
      row.dataset.dim = dim.key;
      const name = document.createElement("div");
      name.className = "name";
      name.id = "dim-" + dim.key + "-" + Math.random().toString(36).slice(2, 8);
      name.textContent = dim.name;
      if (dim.guideline || dim.low_anchor || dim.high_anchor) {
        name.title = [dim.guideline, dim.low_anchor && "Low: " + dim.low_anchor, dim.high_anchor && "High: " + dim.high_anchor]
          .filter(Boolean).join("\n");
      }
      const scale = document.createElement("div");
      scale.className = "scale";
      scale.tabIndex = 0;
      scale.setAttribute("role", "slider");
      scale.setAttribute("aria-labelledby", name.id);
      scale.setAttribute("aria-valuemin", "0");
      scale.setAttribute("aria-valuemax", "1");
      // A slider must carry a value; an unrated one says so in its value text (no thumb is drawn).
      scale.setAttribute("aria-valuenow", "0");
      scale.setAttribute("aria-valuetext", UNRATED);
      scale.dataset.key = dim.key;
      scale.innerHTML = '<div class="track"></div><div class="thumb-dot"></div><div class="labels">' +
        LABELS.map((l, i) => '<span><span class="l-long">' + l + '</span><span class="l-short">' + SHORT[i] + "</span></span>").join("") + "</div>";
      const value = document.createElement("small");
      value.className = "value muted";
      value.setAttribute("aria-hidden", "true");
      const cell = document.createElement("div");
      cell.appendChild(scale);
      cell.appendChild(value);
      row.appendChild(name);
      row.appendChild(cell);
      if ((dim.asks_comment || dim.comment_required) && options.comments !== false) {
        const box = document.createElement("input");
        box.type = "text";
        box.className = "rating-comment";
        box.maxLength = 2000;
        box.dataset.key = dim.key;
        box.placeholder = dim.comment_required ? "Why? (a comment is required)" : "Comment (optional)";
        box.setAttribute("aria-label", "Comment on " + dim.name + (dim.comment_required ? " (required)" : ""));
        box.addEventListener("input", emit);
        box.addEventListener("focus", () => {
          Object.values(scales).forEach((s) => s.closest(".rating-row").classList.toggle("active", s.closest(".rating-row") === row));
          onFocus(byKey[dim.key]);
        });
        row.classList.add("has-comment");
        row.appendChild(box);
        comments[dim.key] = box;
      }
      scales[dim.key] = scale;
      values[dim.key] = null;
      order.push(dim.key);
      scale.addEventListener("focus", () => {
        Object.values(scales).forEach((s) => s.closest(".rating-row").classList.toggle("active", s === scale));
        onFocus(byKey[dim.key]);
      });
      name.addEventListener("click", () => { if (scale.tabIndex >= 0) scale.focus(); });

      function fromPointer(ev) {
        const rect = scale.querySelector(".track").getBoundingClientRect();
        setValue(dim.key, (ev.clientX - rect.left) / rect.width);
      }
      scale.addEventListener("pointerdown", (ev) => {
        if (scale.getAttribute("aria-disabled") === "true") return;
        scale.focus();
        fromPointer(ev);
        const move = (e) => fromPointer(e);
        const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
        window.addEventListener("pointermove", move);
        window.addEventListener("pointerup", up);
        ev.preventDefault();
      });
      scale.addEventListener("keydown", (ev) => {
        if (scale.getAttribute("aria-disabled") === "true") return;
        const big = ev.shiftKey ? 0.05 : 0.01;
        const current = values[dim.key];
        let next = null;
        switch (ev.key) {
          case "ArrowRight": case "ArrowUp": next = current === null ? 0.5 : current + big; break;
          case "ArrowLeft": case "ArrowDown": next = current === null ? 0.5 : current - big; break;
          case "PageUp": next = current === null ? 0.5 : current + 0.05; break;
          case "PageDown": next = current === null ? 0.5 : current - 0.05; break;
          case "Home": next = 0; break;
          case "End": next = 1; break;
          default: return;
        }
        ev.preventDefault();
        setValue(dim.key, next);
      });
      return row;
    }

    groupDims(dims).forEach((group) => {
      const fieldset = document.createElement("fieldset");
      fieldset.className = "rating-group" + (group.root ? " rating-root" : "");
      if (group.title) {
        const legend = document.createElement("legend");
        legend.textContent = group.title;
        fieldset.appendChild(legend);
      }
      group.dims.forEach((d) => fieldset.appendChild(build(d)));
      container.appendChild(fieldset);
    });

    const api = {
      el: container,
      values() { return Object.assign({}, values); },
      untouched() { return Object.keys(values).filter((k) => values[k] === null); },
      comments() {
        const out = {};
        Object.entries(comments).forEach(([k, box]) => { if (box.value.trim()) out[k] = box.value.trim(); });
        return out;
      },
      missingComments() {
        return Object.keys(comments).filter((k) => byKey[k].comment_required && values[k] !== null && !comments[k].value.trim());
      },
      complete() { return api.untouched().length === 0; },
      reset() {
        Object.keys(values).forEach((k) => {
          values[k] = null;
          const s = scales[k];
          s.classList.remove("touched");
          s.setAttribute("aria-valuenow", "0");
          s.setAttribute("aria-valuetext", UNRATED);
          s.parentElement.querySelector(".value").textContent = "";
        });
        Object.values(comments).forEach((box) => { box.value = ""; });
        emit();
      },
      clear(key) { clearValue(key); },
      focus(key) { if (scales[key]) scales[key].focus(); },
      order() { return order.slice(); },
      dim(key) { return byKey[key]; },
      setDisabled(flag) {
        Object.values(scales).forEach((s) => { s.setAttribute("aria-disabled", flag ? "true" : "false"); s.tabIndex = flag ? -1 : 0; });
        Object.values(comments).forEach((box) => { box.disabled = flag; });
      },
      set(key, v) { setValue(key, v); },
    };
    return api;
  }

  window.HB = window.HB || {};
  window.HB.mountRating = mountRating;
  window.HB.ratingGroups = groupDims;
  window.HB.ratingLevel = level;
})();
