// The runs list: newest first, filtered by state, pipeline and a search text (id, pipeline, parameter
// values), a page at a time; the filters and the page are kept in the address (a reload or a link keeps
// them). Refreshed while it is shown.

import { el, fmt, getJSON, stateBadge } from "./api.js";

const REFRESH_MS = 2000;
const PAGE = 100;
const SEARCH_PAUSE_MS = 250;
const KEPT = ["state", "pipeline", "q", "page"];

export function runsView(main, query, cleanups) {
  const stateFilter = el("select", { id: "filter-state" }, el("option", { value: "" }, "any state"));
  const pipelineFilter = el("select", { id: "filter-pipeline" }, el("option", { value: "" }, "any pipeline"));
  const search = el("input", { type: "search", id: "search", placeholder: "search id, pipeline, parameters" });
  search.value = query.get("q") || "";
  const compareButton = el("button", { type: "button", id: "compare", disabled: true }, "Compare runs");
  const table = el("div", { id: "runs" });
  const pages = el("div", { class: "pages", id: "pages" });
  const chosen = [];
  main.replaceChildren(
    el("h2", {}, "Runs"),
    el("div", { class: "filters" }, search, " ", stateFilter, " ", pipelineFilter, " ", compareButton),
    table,
    pages,
  );
  const page = () => Math.max(1, Number.parseInt(query.get("page") || "1", 10) || 1);
  // The address follows the filters without opening the view again (the search field keeps its focus).
  const keep = (changes) => {
    for (const [name, value] of Object.entries(changes)) {
      if (value) query.set(name, value);
      else query.delete(name);
    }
    const kept = new URLSearchParams(KEPT.filter((name) => query.get(name)).map((name) => [name, query.get(name)]));
    history.replaceState(history.state, "", `#/runs${kept.size ? `?${kept}` : ""}`);
    refresh();
  };
  stateFilter.addEventListener("change", () => keep({ state: stateFilter.value, page: "" }));
  pipelineFilter.addEventListener("change", () => keep({ pipeline: pipelineFilter.value, page: "" }));
  let pause = null;
  search.addEventListener("input", () => {
    clearTimeout(pause);
    pause = setTimeout(() => keep({ q: search.value.trim(), page: "" }), SEARCH_PAUSE_MS);
  });
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
  const pager = (listed) => {
    const last = Math.max(1, Math.ceil(listed.total / PAGE));
    const shown = listed.runs.length ? `${listed.offset + 1}–${listed.offset + listed.runs.length} of ${listed.total}` : "";
    pages.replaceChildren(
      el("button", { type: "button", id: "page-back", disabled: page() <= 1, onclick: () => keep({ page: String(page() - 1) }) }, "‹ newer"),
      ` page ${page()} of ${last} `,
      el("button", { type: "button", id: "page-next", disabled: page() >= last, onclick: () => keep({ page: String(page() + 1) }) }, "older ›"),
      el("span", { class: "muted" }, ` ${shown}`),
      listed.total >= listed.scanned ? el("span", { class: "muted" }, ` (the newest ${listed.scanned} runs are searched)`) : null,
    );
  };
  const load = async () => {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String((page() - 1) * PAGE) });
    for (const name of ["state", "pipeline", "q"]) if (query.get(name)) params.set(name, query.get(name));
    const listed = await getJSON(`/api/runs?${params}`);
    fillFilter(stateFilter, listed.states, query.get("state"));
    fillFilter(pipelineFilter, listed.pipelines, query.get("pipeline"));
    pager(listed);
    if (!listed.runs.length) {
      const filtered = KEPT.some((name) => query.get(name));
      table.replaceChildren(
        el("p", { class: "muted" }, filtered ? "No run matches." : "No runs. Start one with flow run, or from Start a run."),
      );
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
  cleanups.push(() => clearInterval(timer), () => clearTimeout(pause));
}
