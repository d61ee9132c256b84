/* Charts of the pages (Apache ECharts, served from /static/vendor).
 *
 * A chart is an element with a data-chart attribute holding JSON (no inline script: the page's
 * policy allows scripts from this site only):
 *   {"x": ["2026-01", ...], "unit": "fen" | "count", "stack": false,
 *    "series": [{"name": "余额", "type": "line" | "bar", "data": [123456, ...], "axis": 0 | 1}],
 *    "axes": [{"unit": "fen"}, {"unit": "count"}],
 *    "drill": "/…?month={x}&series={s}"}   (optional: a click opens the rows behind a point;
 *                                          each series then carries its "key")
 * A fan chart (hpf.planning.charts): a series with "base": true is the transparent floor of a
 * stack, "band": true a shaded band stacked on it; neither shows in the tooltip; "dashed": true
 * draws a dashed line; "legend": false leaves a series out of the legend.
 * Amounts travel in fen (integers, exact) and are shown in 元 with thousands separators.
 */
(function () {
  "use strict";
  var grouping = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 2, minimumFractionDigits: 0 });
  var exact = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 2, minimumFractionDigits: 2 });

  function axisLabel(unit) {
    if (unit === "fen") {
      return function (v) {
        var yuan = v / 100;
        if (Math.abs(yuan) >= 10000) return grouping.format(yuan / 10000) + "万";
        return grouping.format(yuan);
      };
    }
    if (unit === "number") return function (v) { return fine.format(v); };
    return function (v) { return grouping.format(v); };
  }

  var fine = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 4 });

  function valueText(unit, v) {
    if (v === null || v === undefined) return "—";
    if (unit === "fen") return exact.format(v / 100) + " 元";
    return unit === "number" ? fine.format(v) : grouping.format(v);
  }

  function option(spec, narrow) {
    var axes = spec.axes || [{ unit: spec.unit || "fen", name: spec.unit === "count" ? "" : "元" }];
    var units = axes.map(function (a) { return a.unit; });
    var category = {
      type: "category",
      data: spec.x,
      axisLabel: { hideOverlap: !spec.horizontal, fontSize: narrow ? 10 : 12, width: narrow ? 90 : 160, overflow: "truncate" },
      axisTick: { alignWithLabel: true }
    };
    var values = axes.map(function (a, i) {
      return {
        type: "value",
        name: a.name || (a.unit === "fen" ? "元" : ""),
        nameTextStyle: { align: i === 0 ? "left" : "right" },
        axisLabel: { formatter: axisLabel(a.unit), fontSize: narrow ? 10 : 12 },
        // a year of nothing but zeros: ticks of whole yuan (or whole counts), not 0.01 repeated
        minInterval: a.unit === "fen" ? 100 : (a.unit === "count" ? 1 : 0),
        splitLine: { show: i === 0 }
      };
    });
    var allBars = spec.series.every(function (s) { return s.type === "bar"; });
    return {
      animation: false,
      color: ["#1d5fa8", "#d2691e", "#2e8b57", "#8b3a62", "#6b6b6b"],
      // narrow: the legend scrolls across the whole width, so the axis names go below it
      grid: { left: 8, right: 12, top: narrow ? 56 : 36, bottom: 8, containLabel: true },
      legend: {
        top: 0, type: "scroll", textStyle: { fontSize: narrow ? 11 : 12 },
        data: spec.series.filter(function (s) { return !s.base && s.legend !== false; }).map(function (s) { return s.name; })
      },
      tooltip: {
        // narrow bars: the one bar under the finger, a tooltip small enough to sit beside it
        trigger: spec.tooltip || (narrow && allBars ? "item" : "axis"),
        position: besidePointer, // keeps it inside the chart itself, so no "confine"
        renderMode: "richText", // drawn on the canvas: an HTML tooltip would need inline styles, which the policy refuses
        valueFormatter: undefined,
        formatter: function (params) {
          var list = Array.isArray(params) ? params : [params];
          if (!list.length) return "";
          var lines = [list[0].name];
          list.forEach(function (p) {
            var s = spec.series[p.seriesIndex];
            if (s.band || s.base) return; // a fan chart's bands: their widths, not values
            lines.push(p.marker + s.name + "：" + valueText(units[s.axis || 0], p.value));
          });
          return lines.join("\n");
        }
      },
      xAxis: spec.horizontal ? values : category,
      yAxis: spec.horizontal ? Object.assign({}, category, { inverse: true }) : values,
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: s.type || "line",
          data: s.data,
          yAxisIndex: spec.horizontal ? undefined : s.axis || 0,
          xAxisIndex: spec.horizontal ? s.axis || 0 : undefined,
          areaStyle: s.band ? { opacity: s.band === "inner" ? 0.32 : 0.14, color: "#1d5fa8" } : s.area ? { opacity: 0.15 } : undefined,
          itemStyle: s.band ? { color: "#1d5fa8", opacity: s.band === "inner" ? 0.6 : 0.3 } : undefined,
          lineStyle: s.band || s.base ? { opacity: 0 } : s.dashed ? { type: "dashed" } : undefined,
          stack: s.stack || undefined,
          showSymbol: !s.band && !s.base && (s.type || "line") === "line" && spec.x.length <= 24,
          step: s.step || undefined,
          barMaxWidth: 36
        };
      })
    };
  }

  // The tooltip never lies under the pointer: drawn on the canvas, it would catch the tap or the
  // click meant for the bar below it, and the drill-down would not open (seen on a phone, where a
  // confined tooltip was pushed back over the pointer). Beside the pointer, else above or below
  // it; when it fits nowhere whole, on the roomier side, cut at the chart's edge.
  function besidePointer(point, params, el, rect, size) {
    var gap = 12;
    var w = size.contentSize[0], h = size.contentSize[1];
    var vw = size.viewSize[0], vh = size.viewSize[1];
    var clamp = function (v, max) { return Math.max(0, Math.min(v, max)); };
    var right = vw - point[0] - gap, left = point[0] - gap;
    if (Math.max(right, left) >= w) {
      return [right >= w ? point[0] + gap : point[0] - gap - w, clamp(point[1] - h / 2, vh - h)];
    }
    var below = vh - point[1] - gap, above = point[1] - gap;
    var x = clamp(point[0] - w / 2, vw - w);
    if (above >= h || above >= below) return [x, point[1] - gap - h];
    return [x, point[1] + gap];
  }

  var drawn = [];

  function draw(el) {
    if (el.getAttribute("data-chart-drawn")) return;
    var spec;
    try {
      spec = JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      return;
    }
    if (!window.echarts || !spec || !spec.series) return;
    var chart = window.echarts.init(el, null, { renderer: "canvas", locale: "ZH" });
    chart.setOption(option(spec, el.clientWidth < 480));
    if (spec.drill) {
      // drill-down: a click on a point opens the rows behind it ({x}: the category, {s}: the series key)
      chart.on("click", function (p) {
        var s = spec.series[p.seriesIndex] || {};
        window.location.href = spec.drill
          .replace("{x}", encodeURIComponent(p.name))
          .replace("{s}", encodeURIComponent(s.key || ""));
      });
    }
    el.setAttribute("data-chart-drawn", "1");
    drawn.push({ el: el, chart: chart, spec: spec, narrow: el.clientWidth < 480 });
  }

  function drawAll(root) {
    var list = (root || document).querySelectorAll("[data-chart]");
    for (var i = 0; i < list.length; i++) draw(list[i]);
  }

  var pending = null;
  function resize() {
    if (pending) return;
    pending = window.setTimeout(function () {
      pending = null;
      drawn.forEach(function (d) {
        var narrow = d.el.clientWidth < 480;
        if (narrow !== d.narrow) {
          d.narrow = narrow;
          d.chart.setOption(option(d.spec, narrow), true);
        }
        d.chart.resize();
      });
    }, 100);
  }

  window.addEventListener("resize", resize);
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { drawAll(ev.target); });
  document.addEventListener("toggle", function () { drawAll(document); resize(); }, true);
})();
