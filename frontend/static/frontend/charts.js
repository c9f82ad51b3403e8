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

  const bad = css.getPropertyValue("--bad").trim() || "#b3261e";
  const scatter = document.getElementById("chart-rater-scatter");
  if (scatter && data.rater_scatter) {
    const point = (p) => ({ x: p.x, y: p.y, label: p.label });
    new Chart(scatter, {
      type: "scatter",
      data: {
        datasets: [
          { label: "Raters", data: data.rater_scatter.filter((p) => !p.flagged).map(point), backgroundColor: accent, pointRadius: 5 },
          { label: "Flagged by screening", data: data.rater_scatter.filter((p) => p.flagged).map(point), backgroundColor: bad, pointStyle: "triangle", pointRadius: 7 },
        ],
      },
      options: {
        plugins: {
          tooltip: {
            callbacks: {
              label: (ctx) => `${ctx.raw.label}: Δ ${ctx.raw.x.toFixed(3)}, υ ${ctx.raw.y.toFixed(3)}`,
            },
          },
        },
        scales: {
          x: axis("Mean bias Δ (score points; > 0 rates high)"),
          y: axis("Mean inconsistency υ", { beginAtZero: true }),
        },
      },
    });
  }

  const gold = document.getElementById("chart-gold-mae");
  if (gold && data.gold_mae) {
    // One bar per rater: grow the box so every name stays readable however many raters there are.
    gold.parentElement.style.height = Math.max(160, 60 + 28 * data.gold_mae.length) + "px";
    new Chart(gold, {
      type: "bar",
      data: {
        labels: data.gold_mae.map((g) => g.label),
        datasets: [{
          label: "Hidden-gold MAE",
          data: data.gold_mae.map((g) => g.value),
          backgroundColor: data.gold_mae.map((g) => (g.flagged ? bad : accent)),
        }],
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx) => `MAE ${ctx.parsed.x.toFixed(3)}` } } },
        scales: {
          x: axis("Mean absolute error against expert gold (score points)", { beginAtZero: true }),
          y: axis("Rater", { ticks: { autoSkip: false } }),
        },
      },
    });
  }
})();
