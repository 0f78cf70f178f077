// Charts of the collection board and the collection analysis (ECharts), read from the JSON the
// pages put in #ageing-data (board) and #analysis-data (analysis). Amounts arrive as strings
// with two decimals; series names arrive translated. Charts in hidden tabs start when shown.
(function () {
  "use strict";

  function numbers(list) {
    return (list || []).map(Number);
  }

  function money(value) {
    return "¥" + Number(value).toLocaleString(undefined, {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
  }

  function start(id, option) {
    const holder = document.getElementById(id);
    if (!holder || typeof window.echarts === "undefined") return null;
    const chart = window.echarts.init(holder);
    chart.setOption(option);
    window.addEventListener("resize", function () {
      chart.resize();
    });
    return chart;
  }

  function bars(labels, series, extra) {
    return Object.assign(
      {
        tooltip: {
          trigger: "axis",
          axisPointer: { type: "shadow" },
          valueFormatter: money,
        },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 8, bottom: 8, top: 36, containLabel: true },
        xAxis: {
          type: "category",
          data: labels,
          axisLabel: { interval: 0, rotate: labels.length > 6 ? 30 : 0 },
        },
        yAxis: { type: "value" },
        series: series,
      },
      extra || {}
    );
  }

  function ageing(labels, amounts) {
    start(
      "ageing-chart",
      bars(labels, [{ type: "bar", data: numbers(amounts), itemStyle: { color: "#d63939" } }], {
        legend: { show: false },
        grid: { left: 8, right: 8, bottom: 8, top: 16, containLabel: true },
      })
    );
  }

  function whenShown(paneId, build) {
    let chart = null;
    const pane = document.getElementById(paneId);
    if (!pane) return;
    if (pane.classList.contains("active")) chart = build();
    document.querySelectorAll('[data-bs-toggle="tab"][href="#' + paneId + '"]').forEach(function (tab) {
      tab.addEventListener("shown.bs.tab", function () {
        if (chart) chart.resize();
        else chart = build();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const board = document.getElementById("ageing-data");
    if (board) {
      const data = JSON.parse(board.textContent);
      ageing(data.labels, data.amounts);
    }
    const source = document.getElementById("analysis-data");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const names = data.names || {};
    ageing(data.buckets, data.bucket_amounts);
    whenShown("trend-chart-pane", function () {
      return start(
        "trend-chart",
        bars(data.months, [
          { name: names.planned, type: "bar", data: numbers(data.planned), itemStyle: { color: "#9ba9be" } },
          { name: names.received, type: "bar", data: numbers(data.received), itemStyle: { color: "#2fb344" } },
          { name: names.refunds, type: "bar", data: numbers(data.refunds), itemStyle: { color: "#f76707" } },
          { name: names.net, type: "line", data: numbers(data.net), itemStyle: { color: "#206bc4" } },
        ])
      );
    });
    whenShown("owners-chart-pane", function () {
      return start(
        "owners-chart",
        bars(data.owners, [
          { name: names.received, type: "bar", data: numbers(data.owner_received), itemStyle: { color: "#2fb344" } },
          { name: names.refunds, type: "bar", data: numbers(data.owner_refunds), itemStyle: { color: "#f76707" } },
          { name: names.net, type: "bar", data: numbers(data.owner_net), itemStyle: { color: "#206bc4" } },
          { name: names.outstanding, type: "bar", data: numbers(data.owner_outstanding), itemStyle: { color: "#9ba9be" } },
        ])
      );
    });
  });
})();
