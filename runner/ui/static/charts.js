// Charts drawn by uPlot (static/vendor, loaded by the page as a classic script: window.uPlot). Small, fast,
// canvas-based, no dependencies; a chart here is a line through points, each a figure of some run.

import { el } from "./api.js";

const WIDTH = 460;
const HEIGHT = 300;
const STROKE = "#2563eb";

// A chart of one curve through `points` ([x, y] pairs, drawn in order of x). `xTicks`: the labels of whole
// x values (runs along the x axis) instead of numbers.
export function lineChart({ title, xLabel, yLabel, points, xTicks = null, unitRange = false }) {
  const box = el("div", { class: "chart", dataset: { title, points: points.length } });
  if (!window.uPlot) {
    box.append(el("p", { class: "muted" }, `${title}: the chart library did not load.`));
    return box;
  }
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const range = unitRange ? { range: [0, 1] } : {};
  const xAxis = { label: xLabel };
  if (xTicks) {
    xAxis.splits = () => xTicks.map((_, index) => index);
    xAxis.values = (_, splits) => splits.map((index) => xTicks[index] ?? "");
  }
  const options = {
    title,
    width: WIDTH,
    height: HEIGHT,
    scales: { x: { time: false, ...(xTicks ? { range: [-0.5, xTicks.length - 0.5] } : range) }, y: range },
    series: [
      { label: xLabel, value: xTicks ? (_, index) => xTicks[index] ?? "-" : undefined },
      { label: yLabel, stroke: STROKE, width: 2, points: { show: true, size: 6 } },
    ],
    axes: [xAxis, { label: yLabel }],
    legend: { show: true },
  };
  new window.uPlot(options, [sorted.map((p) => p[0]), sorted.map((p) => p[1])], box);
  return box;
}
