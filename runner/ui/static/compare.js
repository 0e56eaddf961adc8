// Two runs side by side: parameters, pipeline outputs and metrics; rows that differ stand out.

import { el, fmt, getJSON, stateBadge } from "./api.js";

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
          { class: row.same ? "" : "differs" },
          el("td", {}, row.name),
          el("td", {}, row.a === null ? "-" : fmt.value(row.a)),
          el("td", {}, row.b === null ? "-" : fmt.value(row.b)),
        ),
      ),
    ),
  );
}

export async function compareView(main, first, second) {
  const found = await getJSON(`/api/compare?${new URLSearchParams({ a: first, b: second })}`);
  main.replaceChildren(
    el("h2", {}, "Compare runs"),
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
  );
}
