// Analytics charts drawn with Chart.js (vendored under static/frontend/vendor, no CDN): axes with titles,
// readable tick labels, legends and hover values. Data comes from a json_script block ("chart-data").
"use strict";
(function () {
  const el = document.getElementById("chart-data");
  if (!el || !window.Chart) return;
  const data = JSON.parse(el.textContent);
  const css = getComputedStyle(document.documentElement);
  const accent = css.getPropertyValue("--accent").trim() || "#8a3b5c";
  const ok = css.getPropertyValue("--ok").trim() || "#2f7d4f";
  Chart.defaults.font.size = 13;
  Chart.defaults.color = "#3a3a3f";
  Chart.defaults.maintainAspectRatio = false;
  const axis = (title, extra) => Object.assign({ title: { display: true, text: title }, grid: { color: "#ece9e4" } }, extra || {});

  const hist = document.getElementById("chart-histogram");
  if (hist && data.histogram) {
    new Chart(hist, {
      type: "bar",
      data: {
        labels: data.histogram.map((h) => String(h.ratings)),
        datasets: [{ label: "Images", data: data.histogram.map((h) => h.images), backgroundColor: accent }],
      },
      options: {
        plugins: { legend: { display: false }, tooltip: { callbacks: { title: (items) => items[0].label + " rating(s)" } } },
        scales: { x: axis("Ratings an image has"), y: axis("Images", { beginAtZero: true, ticks: { precision: 0 } }) },
      },
    });
  }

  const comp = document.getElementById("chart-completion");
  if (comp && data.ratings_by_hour) {
    const hours = [...new Set([...data.ratings_by_hour, ...data.completed_by_hour].map((r) => r.hour))].sort();
    const by = (rows) => Object.fromEntries(rows.map((r) => [r.hour, r.count]));
    const ratings = by(data.ratings_by_hour);
    const completed = by(data.completed_by_hour);
    let total = 0;
    const cumulative = hours.map((h) => (total += completed[h] || 0));
    const label = (h) => new Date(h).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" });
    new Chart(comp, {
      type: "bar",
      data: {
        labels: hours.map(label),
        datasets: [
          { type: "bar", label: "Ratings per hour", data: hours.map((h) => ratings[h] || 0), backgroundColor: "#c9a9b8", yAxisID: "y" },
          { type: "bar", label: "Images completed per hour", data: hours.map((h) => completed[h] || 0), backgroundColor: ok, yAxisID: "y" },
          { type: "line", label: "Images completed (cumulative)", data: cumulative, borderColor: accent, backgroundColor: accent, yAxisID: "y2", tension: 0.2 },
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: axis("Hour (local time)"),
          y: axis("Per hour", { beginAtZero: true, ticks: { precision: 0 } }),
          y2: axis("Cumulative", { beginAtZero: true, position: "right", grid: { display: false }, ticks: { precision: 0 } }),
        },
      },
    });
  }
})();
