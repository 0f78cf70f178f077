// The report builder (templates/analytics/report_builder.html): changing the subject reloads
// the builder with that subject's dimensions, measures and filters; any other change asks the
// server for a new preview (htmx, see the form's hx-get). After htmx puts a new preview in
// place, this draws its chart with ECharts and wires the chart/table toggle, the same way
// analytics.js does for figures present when the page loads.
(function () {
  "use strict";

  function money(value) {
    return "¥" + Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function formatter(kind) {
    return function (value) {
      if (value === null || value === undefined) return "—";
      if (kind === "money") return money(value);
      if (kind === "percent") return Number(value).toFixed(1) + "%";
      return Number(value).toLocaleString();
    };
  }

  function option(data) {
    const narrow = window.innerWidth < 576;
    const first = data.series[0] || { kind: "count", data: [] };
    if (data.type === "pie") {
      return {
        tooltip: { trigger: "item", valueFormatter: formatter(first.kind) },
        legend: { type: "scroll", bottom: 0 },
        series: [{
          type: "pie",
          name: first.name,
          radius: narrow ? ["30%", "60%"] : ["35%", "70%"],
          data: data.categories.map(function (name, i) { return { name: name, value: first.data[i] }; }),
        }],
      };
    }
    const horizontal = data.type === "hbar";
    const category = {
      type: "category",
      data: data.categories,
      axisLabel: horizontal
        ? { width: narrow ? 80 : 140, overflow: "truncate" }
        : { interval: 0, rotate: data.categories.length > (narrow ? 3 : 6) ? 35 : 0, width: 90, overflow: "truncate" },
    };
    const value = { type: "value" };
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll", show: data.series.length > 1 },
      grid: { left: 8, right: 12, bottom: 8, top: data.series.length > 1 ? 32 : 12, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? Object.assign({ inverse: true }, category) : value,
      series: data.series.map(function (s) {
        return {
          name: s.name,
          type: data.type === "line" ? "line" : "bar",
          data: s.data,
          tooltip: { valueFormatter: formatter(s.kind) },
        };
      }),
    };
  }

  function draw(card) {
    if (typeof window.echarts === "undefined") return;
    const key = card.getAttribute("data-figure");
    const source = document.getElementById(key + "-data");
    const holder = document.getElementById("chart-" + key);
    if (!source || !holder || holder.offsetParent === null) return;
    if (card._chart) card._chart.dispose();
    const data = JSON.parse(source.textContent);
    const chart = window.echarts.init(holder);
    chart.setOption(option(data));
    chart.on("click", function (params) {
      const url = data.urls[params.dataIndex];
      if (url) window.location.href = url;
    });
    card._chart = chart;
  }

  function wire(root) {
    root.querySelectorAll("[data-figure]").forEach(function (card) {
      card.querySelectorAll("[data-figure-view]").forEach(function (button) {
        button.addEventListener("click", function () {
          const view = button.getAttribute("data-figure-view");
          card.querySelectorAll("[data-figure-view]").forEach(function (b) {
            const on = b === button;
            b.classList.toggle("active", on);
            b.setAttribute("aria-pressed", on ? "true" : "false");
          });
          card.querySelectorAll("[data-figure-pane]").forEach(function (pane) {
            pane.classList.toggle("d-none", pane.getAttribute("data-figure-pane") !== view);
          });
          if (view === "chart") draw(card);
        });
      });
      card.querySelectorAll("tr[data-href]").forEach(function (row) {
        row.style.cursor = "pointer";
        row.addEventListener("click", function (event) {
          if (event.target.closest("a")) return;
          window.location.href = row.getAttribute("data-href");
        });
      });
      draw(card);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("report-builder");
    if (!form) return;
    const subject = form.querySelector("[data-subject]");
    if (subject) {
      subject.addEventListener("change", function (event) {
        event.stopPropagation(); // no preview of the old subject's fields
        const url = new URL(form.getAttribute("data-builder-url"), window.location.href);
        url.searchParams.set("subject", subject.value);
        window.location.href = url.toString();
      });
    }
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target && event.target.id === "rep-preview") wire(event.target);
    });
    window.addEventListener("resize", function () {
      document.querySelectorAll("#rep-preview [data-figure]").forEach(function (card) {
        if (card._chart) card._chart.resize();
      });
    });
  });
})();
