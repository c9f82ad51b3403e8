// Small helpers shared by pages (no framework, no CDN).
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
};
