// Time-series plots (uPlot). Each plot is a labelled figure with a text
// summary beside it, so the numbers are reachable without seeing the chart.
import uPlot from "uplot";
import { h } from "./dom.js";

export function plot(title, unit, times, values, color) {
  const fig = h("figure.card", { "aria-label": title });
  const last = values.length ? values[values.length - 1] : null;
  fig.append(h("figcaption", h("strong", title), " ",
    h("span.muted", last === null ? "(no data)" : `latest ${fmt(last)} ${unit}`)));
  const box = h("div.plot");
  fig.append(box);
  requestAnimationFrame(() => {
    const width = Math.max(260, box.clientWidth || 600);
    new uPlot({
      width, height: 200, legend: { show: false },
      series: [{}, { label: title, stroke: color, width: 2, fill: color + "22", spanGaps: true, points: { show: true, size: 5 } }],
      axes: [{}, { size: 60, values: (u, vs) => vs.map(fmt) }],
    }, [times, values], box);
  });
  return fig;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
