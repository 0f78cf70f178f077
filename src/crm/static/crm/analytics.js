// Figures of the analytics pages (templates/analytics/_figure.html): each card holds a chart
// drawn with ECharts from the JSON in #<key>-data, the same numbers as a table, and an Excel
// link. Money arrives as numbers and is shown as ¥ with two decimals; a click on a bar, slice
// or table row opens the records behind it (the row's URL). Charts resize with the window and
// draw when their pane is first shown, so they read well on a phone. Figures inside a fragment
// that htmx swaps in (the report builder's preview) are wired the same way.
(function () {
  "use strict";

  function money(value) {
    if (value === null || value === undefined || value === "") return "—";
    return "¥" + Number(value).toLocaleString(undefined, {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
  }

  function format(kind) {
    return function (value) {
      if (value === null || value === undefined) return "—";
      if (kind === "money") return money(value);
      if (kind === "percent") return Number(value).toFixed(1) + "%";
      if (kind === "days") return Number(value).toFixed(1);
      return Number(value).toLocaleString();
    };
  }

  function narrow() {
    return window.innerWidth < 576;
  }

  function option(data) {
    const type = data.type;
    const first = data.series[0] || { kind: "count", data: [] };
    if (type === "pie" || type === "funnel") {
      const items = data.categories.map(function (name, i) {
        return { name: name, value: first.data[i] };
      });
      return {
        tooltip: { trigger: "item", valueFormatter: format(first.kind) },
        legend: { type: "scroll", bottom: 0 },
        series: [
          type === "pie"
            ? { type: "pie", radius: narrow() ? ["30%", "60%"] : ["35%", "70%"], data: items, name: first.name }
            : {
                type: "funnel",
                sort: "none",
                left: "10%",
                width: "80%",
                top: 8,
                bottom: 40,
                label: { show: true, position: "inside" },
                data: items,
                name: first.name,
              },
        ],
      };
    }
    const horizontal = type === "hbar";
    const kinds = data.series.map(function (s) {
      return s.kind;
    });
    const twoAxes = kinds.some(function (k) {
      return k === "percent";
    }) && kinds.some(function (k) {
      return k !== "percent";
    });
    const valueAxes = twoAxes
      ? [
          { type: "value", axisLabel: { formatter: compact } },
          { type: "value", axisLabel: { formatter: "{value}%" }, splitLine: { show: false } },
        ]
      : [{ type: "value", axisLabel: { formatter: kinds[0] === "percent" ? "{value}%" : compact } }];
    const categoryAxis = {
      type: "category",
      data: data.categories,
      axisLabel: horizontal
        ? { width: narrow() ? 80 : 140, overflow: "truncate" }
        : { interval: 0, rotate: data.categories.length > (narrow() ? 3 : 6) ? 35 : 0, width: 90, overflow: "truncate" },
    };
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll", show: data.series.length > 1 },
      grid: { left: 8, right: 12, bottom: 8, top: data.series.length > 1 ? 32 : 12, containLabel: true },
      xAxis: horizontal ? valueAxes[0] : categoryAxis,
      yAxis: horizontal ? Object.assign({ inverse: true }, categoryAxis) : valueAxes,
      dataZoom: !horizontal && data.categories.length > (narrow() ? 6 : 16) ? [{ type: "inside" }, { type: "slider", height: 16, bottom: 0 }] : [],
      series: data.series.map(function (s) {
        const line = type === "line" || (twoAxes && s.kind === "percent");
        return {
          name: s.name,
          type: line ? "line" : "bar",
          stack: data.stack && !line ? "total" : undefined,
          yAxisIndex: !horizontal && twoAxes && s.kind === "percent" ? 1 : 0,
          data: s.data,
          smooth: line,
          tooltip: { valueFormatter: format(s.kind) },
        };
      }),
    };
  }

  function compact(value) {
    const n = Number(value);
    if (Math.abs(n) >= 100000000) return (n / 100000000).toFixed(1) + (document.documentElement.lang.indexOf("zh") === 0 ? "亿" : "00M");
    if (Math.abs(n) >= 10000) return (n / 10000).toFixed(n >= 100000 ? 0 : 1) + (document.documentElement.lang.indexOf("zh") === 0 ? "万" : "0k");
    return n.toLocaleString();
  }

  function draw(card) {
    if (card._chart || typeof window.echarts === "undefined") return;
    const key = card.getAttribute("data-figure");
    const source = document.getElementById(key + "-data");
    const holder = document.getElementById("chart-" + key);
    if (!source || !holder || holder.offsetParent === null) return;
    const data = JSON.parse(source.textContent);
    const chart = window.echarts.init(holder);
    chart.setOption(option(data));
    chart.on("click", function (params) {
      const url = data.urls[params.dataIndex];
      if (url) window.location.href = url;
    });
    card._chart = chart;
  }

  function show(card, view) {
    card.querySelectorAll("[data-figure-view]").forEach(function (button) {
      const on = button.getAttribute("data-figure-view") === view;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    card.querySelectorAll("[data-figure-pane]").forEach(function (pane) {
      pane.classList.toggle("d-none", pane.getAttribute("data-figure-pane") !== view);
    });
    if (view === "chart") {
      draw(card);
      if (card._chart) card._chart.resize();
    }
  }

  function start(root) {
    root.querySelectorAll("[data-figure]").forEach(function (card) {
      if (card._wired) return draw(card);
      card._wired = true;
      card.querySelectorAll("[data-figure-view]").forEach(function (button) {
        button.addEventListener("click", function () {
          show(card, button.getAttribute("data-figure-view"));
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
    start(document);
    // Figures that htmx puts on the page later (the report builder's live preview).
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target && event.target.querySelectorAll) start(event.target);
    });
    document.querySelectorAll('[data-bs-toggle="tab"]').forEach(function (tab) {
      tab.addEventListener("shown.bs.tab", function () {
        start(document);
        document.querySelectorAll("[data-figure]").forEach(function (card) {
          if (card._chart) card._chart.resize();
        });
      });
    });
    let timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        document.querySelectorAll("[data-figure]").forEach(function (card) {
          if (card._chart) card._chart.resize();
        });
      }, 150);
    });
  });
})();
