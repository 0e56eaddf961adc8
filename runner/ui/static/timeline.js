// The run's timeline: one bar per task that ran, from its start to its end (to now while it runs), on one
// time axis from the run's first start; a click on a bar selects its task.

import { el, fmt } from "./api.js";

const RAN = (task) => task.kind !== "dag" && task.started_at;

export function drawTimeline(container, tasks, view) {
  const ran = tasks.filter(RAN).sort((a, b) => a.started_at - b.started_at || a.path.localeCompare(b.path));
  if (!ran.length) {
    container.replaceChildren(el("p", { class: "muted" }, "No task has started yet."));
    return;
  }
  const now = Date.now() / 1000;
  const start = ran[0].started_at;
  const end = Math.max(...ran.map((task) => task.finished_at || now));
  const span = Math.max(end - start, 0.001);
  const percent = (seconds) => `${((100 * seconds) / span).toFixed(3)}%`;
  container.replaceChildren(
    el(
      "div",
      { class: "timeline", id: "timeline" },
      el("div", { class: "axis" }, el("span", {}, "0s"), el("span", {}, fmt.duration(span))),
      ran.map((task) => {
        const finished = task.finished_at || now;
        const bar = el("div", {
          class: `bar state-${task.state}`,
          title: `${task.path}: ${fmt.duration(finished - task.started_at)}`,
        });
        bar.style.left = percent(task.started_at - start);
        bar.style.width = percent(Math.max(finished - task.started_at, span / 500));
        return el(
          "div",
          {
            class: `lane${view.selected === task.path ? " selected" : ""}`,
            dataset: { path: task.path, state: task.state },
            onclick: () => view.select(task.path),
          },
          el("span", { class: "lane-name" }, task.path),
          el("div", { class: "track" }, bar),
          el("span", { class: "lane-time" }, fmt.duration(finished - task.started_at)),
        );
      }),
    ),
  );
}
