// Several runs side by side: parameters, pipeline outputs and metrics; rows where the runs differ stand out,
// and in them the values that are not the first run's. A numeric metric is also drawn across the runs.

import { el, fmt, getJSON, stateBadge } from "./api.js";
import { lineChart } from "./charts.js";

function section(title, rows, runs) {
  if (!rows.length) return el("p", { class: "muted" }, `No ${title.toLowerCase()}.`);
  return el(
    "table",
    { class: `list compare ${title.toLowerCase()}` },
    el("caption", {}, title),
    el("thead", {}, el("tr", {}, el("th", {}, "name"), runs.map((run) => el("th", {}, run.run_id)))),
    el(
      "tbody",
      {},
      rows.map((row) =>
        el(
          "tr",
          { class: row.same ? "" : "differs", dataset: { name: row.name } },
          el("td", {}, row.name),
          row.values.map((value, index) =>
            el(
              "td",
              { class: index > 0 && JSON.stringify(value) !== JSON.stringify(row.values[0]) ? "differs" : "" },
              value === null ? "-" : fmt.value(value),
            ),
          ),
        ),
      ),
    ),
  );
}

// Pick a metric, see it across the runs (in the order they are compared).
function metricChart(rows, runs) {
  const numeric = rows.filter((row) => row.values.some((value) => typeof value === "number"));
  if (!numeric.length) return null;
  const picker = el("select", { id: "metric-pick" }, numeric.map((row) => el("option", { value: row.name }, row.name)));
  const box = el("div", { id: "metric-chart" });
  const draw = () => {
    const row = numeric.find((candidate) => candidate.name === picker.value);
    const points = row.values.flatMap((value, index) => (typeof value === "number" ? [[index, value]] : []));
    box.replaceChildren(
      lineChart({ title: row.name, xLabel: "run", yLabel: row.name, points, xTicks: runs.map((run) => run.run_id) }),
    );
  };
  picker.addEventListener("change", draw);
  draw();
  return el("section", { class: "metric-across" }, el("h3", {}, "A metric across the runs ", picker), box);
}

export async function compareView(main, runIds) {
  const query = new URLSearchParams(runIds.map((runId) => ["run", runId]));
  const found = await getJSON(`/api/compare?${query}`);
  main.replaceChildren(
    el("h2", {}, `Compare ${found.runs.length} runs`),
    el(
      "div",
      { class: "compare-runs" },
      found.runs.map((run) =>
        el("p", {}, el("a", { href: `#/runs/${run.run_id}` }, run.run_id), ` ${run.pipeline} `, stateBadge(run.state), ` ${fmt.when(run.started_at)}`),
      ),
    ),
    section("Parameters", found.params, found.runs),
    section("Outputs", found.outputs, found.runs),
    section("Metrics", found.metrics, found.runs),
    metricChart(found.metrics, found.runs),
  );
}
