// One run: its header, its graph updating live, a task's details and logs, and its artifacts.

import { artifactsTable, previewArtifact } from "./artifacts.js";
import {
  el, fmt, getJSON, getText, postJSON, runUrl, stateBadge, taskPathUrl, tickDurations, valuesTable, withToken,
} from "./api.js";
import { drawGraph } from "./graph.js";
import { drawTimeline } from "./timeline.js";

const FINISHED = new Set([
  "SUCCEEDED", "CACHED", "FAILED", "SKIPPED_UPSTREAM_FAILED", "SKIPPED_CONDITION", "CANCELLED",
]);

// The store's duration stops at the last recorded change; while a run or task goes on, count to now (and
// go on counting: tickDurations updates what carries data-since).
function duration(item) {
  if (item.finished_at || !item.started_at) return el("dd", {}, fmt.duration(item.duration));
  return el("dd", { dataset: { since: item.started_at } }, fmt.duration(Date.now() / 1000 - item.started_at));
}

// What can be done with the run: cancel it (asked first: it stops tasks), resume it, clone it.
function actions(run, act) {
  const finished = ["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.state);
  return el(
    "span",
    { class: "run-actions" },
    finished ? null : el("button", { type: "button", class: "cancel", onclick: act.cancel }, "Cancel run"),
    ["FAILED", "CANCELLED"].includes(run.state)
      ? el("button", { type: "button", class: "resume", onclick: act.resume }, "Resume")
      : null,
    run.rerun_of ? null : el("a", { class: "button clone", href: `#/new?${new URLSearchParams({ clone: run.run_id })}` }, "Clone…"),
  );
}

// A run failed by a task says so in one line; the task's panel shows the traceback, once.
function runError(run, failedTask, act) {
  if (!run.error) return null;
  if (!failedTask || !failedTask.error || !run.error.includes(failedTask.error.split("\n")[0])) {
    return el("pre", { class: "error" }, run.error);
  }
  return el(
    "p",
    { class: "error" },
    run.error.split("\n")[0],
    " ",
    el("button", { type: "button", class: "show-failed", onclick: () => act.select(failedTask.path) }, `Show ${failedTask.name}`),
  );
}

function header(run, act, failedTask) {
  return el(
    "div",
    { class: "run-header" },
    el(
      "h2",
      {},
      `${run.pipeline} `,
      el("span", { class: "muted" }, run.run_id),
      " ",
      stateBadge(run.state),
      actions(run, act),
    ),
    el("p", { class: "error", id: "action-error", role: "alert" }),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "backend"), el("dd", {}, run.backend),
      el("dt", {}, "started"), el("dd", {}, fmt.when(run.started_at || run.created_at)),
      el("dt", {}, "duration"), duration(run),
      el("dt", {}, "root"), el("dd", { class: "uri" }, run.root),
      el("dt", {}, "file"), el("dd", {}, run.pipeline_file),
      run.rerun_of
        ? [
            el("dt", {}, "rerun of"),
            el("dd", {}, el("a", { href: `#/runs/${run.rerun_of.run}` }, run.rerun_of.run), ` ${run.rerun_of.task}`),
          ]
        : null,
    ),
    el("h4", {}, "Parameters"),
    valuesTable(run.params),
    Object.keys(run.outputs || {}).length ? [el("h4", {}, "Outputs"), valuesTable(run.outputs)] : null,
    runError(run, failedTask, act),
  );
}

const RERUNNABLE = new Set(["SUCCEEDED", "CACHED", "FAILED", "CANCELLED"]);

function artifactLinks(list, showArtifact, note) {
  return el(
    "ul",
    { class: "lineage" },
    list.map((artifact) =>
      el(
        "li",
        {},
        el("a", { href: "#", onclick: (event) => (event.preventDefault(), showArtifact(artifact)) }, artifact.name),
        ` ${note(artifact)}`,
      ),
    ),
  );
}

function taskDetails(task, artifacts, showArtifact, rerun) {
  const memory = task.peak_memory_bytes === null ? "not recorded" : fmt.size(task.peak_memory_bytes);
  const cpu = task.cpu_seconds === null ? "not recorded" : `${task.cpu_seconds.toFixed(2)} s`;
  const own = artifacts.filter((artifact) => artifact.task_path === task.path);
  const taken = artifacts.filter((artifact) => artifact.consumers.includes(task.path));
  return el(
    "div",
    {},
    el(
      "h3",
      {},
      task.name,
      " ",
      stateBadge(task.state),
      task.kind === "container" && RERUNNABLE.has(task.state)
        ? el("button", { type: "button", class: "rerun", onclick: () => rerun(task) }, "Rerun task")
        : null,
    ),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "path"), el("dd", {}, task.path),
      el("dt", {}, "kind"), el("dd", {}, task.kind),
      el("dt", {}, "attempts"), el("dd", { class: "attempts" }, String(task.attempts)),
      el("dt", {}, "duration"), duration(task),
      el("dt", {}, "peak memory"), el("dd", { class: "peak-memory" }, memory),
      el("dt", {}, "cpu"), el("dd", { class: "cpu" }, cpu),
      el("dt", {}, "component"), el("dd", {}, task.component),
      el("dt", {}, "digest"), el("dd", { class: "uri" }, task.component_digest || "-"),
      task.exit_code === null ? null : [el("dt", {}, "exit code"), el("dd", {}, String(task.exit_code))],
      task.reason ? [el("dt", {}, "reason"), el("dd", {}, task.reason)] : null,
    ),
    // A task's error ends with its traceback, which its log shows too: then the first line is enough here.
    task.error ? el("pre", { class: "error task-error" }, task.has_log ? task.error.split("\n")[0] : task.error) : null,
    el("h4", {}, "Inputs"),
    valuesTable(task.shown_inputs),
    el("h4", {}, "Outputs"),
    valuesTable(task.outputs),
    taken.length
      ? [el("h4", {}, "Input artifacts"), artifactLinks(taken, showArtifact, (artifact) => `from ${artifact.task_path}`)]
      : null,
    own.length
      ? [
          el("h4", {}, "Artifacts"),
          artifactLinks(own, showArtifact, (artifact) => {
            const users = artifact.consumers.length ? `, used by ${artifact.consumers.join(", ")}` : "";
            return `${artifact.type} (${fmt.size(artifact.size)})${users}`;
          }),
        ]
      : null,
  );
}

// The task's log: read once when it finished, followed through server-sent events while it runs.
function logPanel(runId, task, cleanups) {
  const output = el("pre", { class: "log", id: "log" });
  const status = el("span", { class: "muted log-status" });
  const attempts = el("span", { class: "log-attempts" });
  const show = async (attempt) => {
    const query = attempt ? `?attempt=${attempt}` : "";
    output.textContent = await getText(runUrl(runId, `/logs/${taskPathUrl(task.path)}${query}`));
    status.textContent = attempt ? `attempt ${attempt}` : "";
  };
  if (task.attempts > 1) {
    for (let attempt = 1; attempt <= task.attempts; attempt += 1) {
      attempts.append(el("button", { type: "button", onclick: () => show(attempt) }, `attempt ${attempt}`), " ");
    }
  }
  if (FINISHED.has(task.state)) {
    show(null).catch((error) => (status.textContent = error.message));
  } else {
    status.textContent = "following…";
    const stream = new EventSource(withToken(runUrl(runId, `/log-events/${taskPathUrl(task.path)}`)));
    stream.addEventListener("log", (event) => {
      output.append(JSON.parse(event.data).text);
      output.scrollTop = output.scrollHeight;
    });
    stream.addEventListener("attempt", (event) => {
      output.append(`\n--- attempt ${JSON.parse(event.data).attempt} ---\n`);
    });
    stream.addEventListener("end", (event) => {
      status.textContent = `ended: ${JSON.parse(event.data).state.toLowerCase()}`;
      stream.close();
    });
    cleanups.push(() => stream.close());
  }
  return el("div", { class: "logs" }, el("h4", {}, "Logs ", status, " ", attempts), output);
}

export function runView(main, runId, cleanups) {
  const model = { run: null, tasks: new Map(), edges: [], artifacts: [] };
  const view = { selected: null, unfolded: new Set(), iterations: {} };
  const headerBox = el("div", { id: "run-header" });
  const graphBox = el("div", { class: "graph-box", id: "graph" });
  const timelineBox = el("div", { id: "timeline-box" });
  const taskBox = el("aside", { id: "task-panel" }, el("p", { class: "muted" }, "Click a task to see it here."));
  const artifactsBox = el("div", { id: "artifacts" });
  const previewBox = el("div", { id: "preview" });
  const compareBox = el("div", { class: "compare-pick" });
  let taskCleanups = [];
  main.replaceChildren(
    headerBox,
    compareBox,
    el("div", { class: "run-body" }, graphBox, taskBox),
    el("h3", {}, "Timeline"),
    timelineBox,
    el("h3", {}, "Artifacts"),
    artifactsBox,
    previewBox,
  );

  const showArtifact = async (artifact) => {
    previewBox.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    previewBox.replaceChildren(await previewArtifact(runId, artifact));
    previewBox.scrollIntoView({ block: "nearest" });
  };
  const redraw = () => {
    drawGraph(graphBox, [...model.tasks.values()], model.edges, view);
    drawTimeline(timelineBox, [...model.tasks.values()], view);
  };
  const showTask = (path) => {
    taskCleanups.forEach((cleanup) => cleanup());
    taskCleanups = [];
    const task = model.tasks.get(path);
    if (!task) return;
    taskBox.replaceChildren(
      taskDetails(task, model.artifacts, showArtifact, act.rerun),
      task.has_log ? logPanel(runId, task, taskCleanups) : el("p", { class: "muted" }, "No log (yet)."),
    );
    taskBox.dataset.path = path;
  };
  view.select = (path) => {
    view.selected = path;
    redraw();
    showTask(path);
  };
  view.unfold = (path) => {
    view.unfolded.add(path);
    redraw();
  };
  view.fold = (path) => {
    view.unfolded.delete(path);
    redraw();
  };
  const failedTask = () =>
    [...model.tasks.values()].find((task) => task.state === "FAILED" && task.kind !== "dag" && task.error);
  const failed = (error) => {
    const shown = document.getElementById("action-error");
    if (shown) shown.textContent = error.message;
  };
  const act = {
    cancel: async () => {
      if (!confirm(`Cancel run ${runId}? Its running tasks are stopped.`)) return;
      await postJSON(runUrl(runId, "/cancel"), {}).catch(failed);
    },
    // The run goes on under the same id: the view is opened again to follow it.
    resume: async () => {
      await postJSON(runUrl(runId, "/resume"), {})
        .then(() => window.dispatchEvent(new HashChangeEvent("hashchange")))
        .catch(failed);
    },
    select: (path) => view.select(path),
    rerun: async (task) => {
      await postJSON(runUrl(runId, "/rerun"), { task: task.path })
        .then((started) => (location.hash = `#/runs/${encodeURIComponent(started.run_id)}`))
        .catch(failed);
    },
  };
  let shownArtifacts = null;
  const loadArtifacts = async () => {
    model.artifacts = (await getJSON(runUrl(runId, "/artifacts"))).artifacts;
    // The list is asked for again as tasks finish and when the run ends; a table redrawn with the same
    // rows would take away a button the user is about to press.
    const listed = JSON.stringify(model.artifacts);
    if (listed === shownArtifacts) return;
    shownArtifacts = listed;
    artifactsBox.replaceChildren(artifactsTable(runId, model.artifacts, showArtifact, view.select));
    // A finished task's lineage may have grown; a running one's panel stays (its log is being followed).
    if (view.selected && FINISHED.has(model.tasks.get(view.selected)?.state)) showTask(view.selected);
  };
  const compareWith = async (run) => {
    const others = (await getJSON(`/api/runs?${new URLSearchParams({ pipeline: run.pipeline })}`)).runs.filter(
      (other) => other.run_id !== run.run_id,
    );
    if (!others.length) return;
    const select = el("select", {}, others.map((other) => el("option", { value: other.run_id }, `${other.run_id} ${other.state}`)));
    compareBox.replaceChildren(
      "Compare with ",
      select,
      " ",
      el("button", { type: "button", onclick: () => (location.hash = `#/compare/${runId}/${select.value}`) }, "Compare"),
    );
  };

  getJSON(runUrl(runId))
    .then((detail) => {
      model.run = detail.run;
      detail.tasks.forEach((task) => model.tasks.set(task.path, task));
      model.edges = detail.edges;
      view.iterations = detail.iterations;
      headerBox.replaceChildren(header(model.run, act, failedTask()));
      redraw();
      // A failed run opens on the task that failed: its error and its log, traceback and all.
      const failedNow = model.run.state === "FAILED" ? failedTask() : null;
      if (failedNow && !view.selected) view.select(failedNow.path);
      compareWith(model.run);
      return loadArtifacts();
    })
    .catch((error) => main.replaceChildren(el("p", { class: "error" }, error.message)));

  const stream = new EventSource(withToken(runUrl(runId, "/events")));
  stream.addEventListener("update", (event) => {
    const update = JSON.parse(event.data);
    model.run = update.run;
    let finishedNow = false;
    let selectedMoved = false; // the selected task finished, or its log appeared: show it again
    for (const task of update.tasks) {
      const before = model.tasks.get(task.path);
      const finished = FINISHED.has(task.state) && (!before || !FINISHED.has(before.state));
      finishedNow ||= finished;
      if (task.path === view.selected) selectedMoved = finished || task.has_log !== before?.has_log;
      model.tasks.set(task.path, task);
    }
    if (update.edges) model.edges = update.edges;
    if (update.iterations) view.iterations = update.iterations;
    headerBox.replaceChildren(header(model.run, act, failedTask()));
    redraw();
    if (selectedMoved) showTask(view.selected);
    if (finishedNow) loadArtifacts();
  });
  stream.addEventListener("end", () => {
    stream.close();
    loadArtifacts();
  });
  // Running durations count on; the timeline's bars of running tasks grow.
  const ticker = setInterval(() => {
    tickDurations(main);
    if (model.run && !model.run.finished_at) drawTimeline(timelineBox, [...model.tasks.values()], view);
  }, 1000);
  cleanups.push(
    () => stream.close(),
    () => clearInterval(ticker),
    () => taskCleanups.forEach((cleanup) => cleanup()),
  );
}
