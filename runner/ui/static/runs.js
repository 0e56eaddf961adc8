// The runs list: newest first, filtered by state and pipeline, refreshed while it is shown.

import { el, fmt, getJSON, stateBadge } from "./api.js";

const REFRESH_MS = 2000;

export function runsView(main, query, cleanups) {
  const stateFilter = el("select", { id: "filter-state" }, el("option", { value: "" }, "any state"));
  const pipelineFilter = el("select", { id: "filter-pipeline" }, el("option", { value: "" }, "any pipeline"));
  const compareButton = el("button", { type: "button", id: "compare", disabled: true }, "Compare runs");
  const table = el("div", { id: "runs" });
  const chosen = [];
  main.replaceChildren(
    el("h2", {}, "Runs"),
    el("div", { class: "filters" }, stateFilter, " ", pipelineFilter, " ", compareButton),
    table,
  );
  const applyFilters = () => {
    const params = new URLSearchParams();
    if (stateFilter.value) params.set("state", stateFilter.value);
    if (pipelineFilter.value) params.set("pipeline", pipelineFilter.value);
    location.hash = `#/runs${params.size ? `?${params}` : ""}`;
  };
  stateFilter.addEventListener("change", applyFilters);
  pipelineFilter.addEventListener("change", applyFilters);
  compareButton.addEventListener("click", () => (location.hash = `#/compare/${chosen.map(encodeURIComponent).join("/")}`));

  const choose = (runId, checked) => {
    if (checked) chosen.push(runId);
    else chosen.splice(chosen.indexOf(runId), 1);
    compareButton.disabled = chosen.length < 2;
    compareButton.textContent = chosen.length < 2 ? "Compare runs" : `Compare ${chosen.length} runs`;
  };
  const fillFilter = (select, values, current) => {
    if (select.options.length > 1) return;
    select.append(...values.map((value) => el("option", { value }, value)));
    select.value = current || "";
  };
  const load = async () => {
    const params = new URLSearchParams();
    if (query.get("state")) params.set("state", query.get("state"));
    if (query.get("pipeline")) params.set("pipeline", query.get("pipeline"));
    const listed = await getJSON(`/api/runs?${params}`);
    fillFilter(stateFilter, listed.states, query.get("state"));
    fillFilter(pipelineFilter, listed.pipelines, query.get("pipeline"));
    if (!listed.runs.length) {
      table.replaceChildren(el("p", { class: "muted" }, "No runs. Start one with flow run, or from Start a run."));
      return;
    }
    table.replaceChildren(
      el(
        "table",
        { class: "list runs" },
        el("thead", {}, el("tr", {}, ["", "run", "pipeline", "state", "started", "duration", "backend"].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          listed.runs.map((run) =>
            el(
              "tr",
              { "data-run": run.run_id },
              el(
                "td",
                {},
                el("input", {
                  type: "checkbox",
                  checked: chosen.includes(run.run_id),
                  onchange: (event) => choose(run.run_id, event.target.checked),
                }),
              ),
              el("td", {}, el("a", { href: `#/runs/${run.run_id}` }, run.run_id)),
              el("td", {}, run.pipeline),
              el("td", {}, stateBadge(run.state)),
              el("td", {}, fmt.when(run.started_at || run.created_at)),
              el("td", {}, fmt.duration(run.duration)),
              el("td", {}, run.backend),
            ),
          ),
        ),
      ),
    );
  };
  const refresh = () => load().catch((error) => table.replaceChildren(el("p", { class: "error" }, error.message)));
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  cleanups.push(() => clearInterval(timer));
}
