// The visit-plan analysis chart: stacked bars per rep (done, missed, cancelled, still planned)
// and a bar of follow-ups, read from the JSON the page puts in #plan-analysis-data.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const holder = document.getElementById("plan-analysis-chart");
    const source = document.getElementById("plan-analysis-data");
    if (!holder || !source || typeof window.echarts === "undefined") return;
    const data = JSON.parse(source.textContent);
    if (!data.reps.length) return;
    const chart = window.echarts.init(holder);
    const series = data.series.map(function (s) {
      return {
        name: s.name,
        type: "bar",
        stack: "plans",
        data: s.data,
        itemStyle: { color: s.color },
        emphasis: { focus: "series" },
      };
    });
    series.push({
      name: data.followups.name,
      type: "bar",
      data: data.followups.data,
      itemStyle: { color: "#0ca678" },
    });
    chart.setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 8, bottom: 8, top: 40, containLabel: true },
      xAxis: {
        type: "category",
        data: data.reps,
        axisLabel: { interval: 0, rotate: data.reps.length > 6 ? 30 : 0 },
      },
      yAxis: { type: "value", minInterval: 1 },
      series: series,
    });
    window.addEventListener("resize", function () {
      chart.resize();
    });
    document.querySelectorAll("[data-bs-toggle=tab]").forEach(function (tab) {
      tab.addEventListener("shown.bs.tab", function () {
        chart.resize();
      });
    });
  });
})();
