// The run's graph: tasks as boxes, sub-DAGs and loop iterations as frames around their tasks, edges from
// each task to the ones waiting for it. Laid out in layers (longest path from the frame's first tasks),
// each frame laid out inside its own box before its parent places it.

import { fmt, svg } from "./api.js";

const NODE_WIDTH = 180;
const NODE_HEIGHT = 42;
const GAP_X = 22;
const GAP_Y = 38;
const PAD = 14;
const TITLE = 22;
const FOLDED_LOOP_ITERATIONS = 8; // a loop with more iterations shows them folded; a click unfolds one

// Worse states win when a frame sums up its tasks.
const SEVERITY = [
  "FAILED", "CANCELLED", "RUNNING", "PENDING", "SKIPPED_UPSTREAM_FAILED", "SUCCEEDED", "CACHED",
  "SKIPPED_CONDITION",
];

// The tree of items: a task record, or a loop iteration (a parent path that has no record of its own).
function buildTree(tasks, iterations) {
  const items = new Map();
  for (const task of tasks) items.set(task.path, { path: task.path, label: task.name, task, children: [] });
  const root = { path: "", label: "", children: [] };
  const itemOf = (path) => {
    if (path === "") return root;
    if (!items.has(path)) {
      const slash = path.lastIndexOf("/");
      const label = iterations[path] || `iteration ${path.slice(slash + 1)}`;
      const iteration = { path, label, iteration: true, children: [] };
      items.set(path, iteration);
      itemOf(slash < 0 ? "" : path.slice(0, slash)).children.push(iteration);
    }
    return items.get(path);
  };
  for (const task of tasks) itemOf(task.parent).children.push(items.get(task.path));
  return root;
}

function stateOf(item) {
  if (item.task) return item.task.state;
  const states = item.children.map(stateOf);
  return SEVERITY.find((state) => states.includes(state)) || "PENDING";
}

function isFrame(item, unfolded) {
  if (!item.children.length) return false;
  return !item.iteration || unfolded.has(item.path) || item.siblings <= FOLDED_LOOP_ITERATIONS;
}

// Sets item.width/height and each child's x/y inside it; returns nothing.
function layout(item, edges, unfolded) {
  if (!isFrame(item, unfolded)) {
    item.width = NODE_WIDTH;
    item.height = NODE_HEIGHT;
    return;
  }
  for (const child of item.children) {
    child.siblings = item.children.length;
    layout(child, edges, unfolded);
  }
  const byPath = new Map(item.children.map((child) => [child.path, child]));
  const upstream = new Map(item.children.map((child) => [child.path, []]));
  for (const [from, to] of edges) if (byPath.has(from) && byPath.has(to)) upstream.get(to).push(from);
  const layerOf = new Map();
  const layer = (path, seen = new Set()) => {
    if (layerOf.has(path)) return layerOf.get(path);
    if (seen.has(path)) return 0; // a cycle cannot happen in a pipeline; never loop on one
    seen.add(path);
    const value = Math.max(-1, ...upstream.get(path).map((up) => layer(up, seen))) + 1;
    layerOf.set(path, value);
    return value;
  };
  const rows = [];
  item.children.forEach((child, order) => {
    child.order = order;
    const index = layer(child.path);
    (rows[index] ||= []).push(child);
  });
  // Each task goes under the middle of the tasks it waits for, so edges cross less.
  const centre = new Map();
  for (const row of rows.filter(Boolean)) {
    const weight = (child) => {
      const ups = upstream.get(child.path).filter((up) => centre.has(up));
      return ups.length ? ups.reduce((sum, up) => sum + centre.get(up), 0) / ups.length : child.order;
    };
    row.sort((a, b) => weight(a) - weight(b) || a.order - b.order);
    row.forEach((child, position) => centre.set(child.path, position));
  }
  const top = item.path === "" ? 0 : TITLE;
  const pad = item.path === "" ? 0 : PAD;
  let y = top + pad;
  let width = 0;
  const placed = rows.filter(Boolean);
  for (const row of placed) {
    row.width = row.reduce((sum, child) => sum + child.width, 0) + GAP_X * (row.length - 1);
    width = Math.max(width, row.width);
  }
  for (const row of placed) {
    let x = pad + (width - row.width) / 2;
    const height = Math.max(...row.map((child) => child.height));
    for (const child of row) {
      child.x = x;
      child.y = y;
      x += child.width + GAP_X;
    }
    y += height + GAP_Y;
  }
  item.width = Math.max(width + 2 * pad, NODE_WIDTH);
  item.height = y - GAP_Y + pad;
}

function drawEdges(item, edges) {
  const byPath = new Map(item.children.map((child) => [child.path, child]));
  return edges
    .filter(([from, to]) => byPath.has(from) && byPath.has(to))
    .map(([from, to]) => {
      const a = byPath.get(from);
      const b = byPath.get(to);
      const x1 = a.x + a.width / 2;
      const y1 = a.y + a.height;
      const x2 = b.x + b.width / 2;
      const y2 = b.y;
      const bend = (y2 - y1) / 2;
      return svg("path", {
        class: "edge",
        d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2 - 4}`,
        "marker-end": "url(#arrow)",
        "data-from": from,
        "data-to": to,
      });
    });
}

function drawItem(item, edges, view) {
  const state = stateOf(item);
  const selected = view.selected === item.path;
  const attrs = {
    transform: `translate(${item.x},${item.y})`,
    "data-path": item.path,
    "data-state": state,
  };
  if (!isFrame(item, view.unfolded)) {
    const folded = item.children.length > 0;
    const cached = state === "CACHED" ? " (cached)" : "";
    return svg(
      "g",
      {
        ...attrs,
        class: `node state-${state}${selected ? " selected" : ""}${folded ? " folded" : ""}`,
        tabindex: 0,
        onclick: () => (folded ? view.unfold(item.path) : view.select(item.path)),
      },
      svg("rect", { width: item.width, height: item.height, rx: 6 }),
      svg("text", { x: 10, y: 17, class: "name" }, clip(item.label, 24)),
      svg(
        "text",
        { x: 10, y: 33, class: "state" },
        folded ? `${item.children.length} tasks · ${state.toLowerCase()}` : state.toLowerCase().replaceAll("_", " ") + cached,
        // A running task's time so far, which the page's ticker counts on.
        state === "RUNNING" && item.task?.started_at
          ? svg(
              "tspan",
              { dataset: { since: item.task.started_at, prefix: " · " } },
              ` · ${fmt.duration(Date.now() / 1000 - item.task.started_at)}`,
            )
          : null,
      ),
      svg("title", {}, item.path),
    );
  }
  const frame = svg(
    "g",
    { ...attrs, class: `frame state-${state}${item.iteration ? " iteration" : ""}${selected ? " selected" : ""}` },
    svg("rect", { width: item.width, height: item.height, rx: 8 }),
    svg(
      "text",
      {
        x: 10,
        y: 16,
        class: "frame-title",
        onclick: () => (item.task ? view.select(item.path) : view.fold(item.path)),
      },
      `${clip(item.label, 40)} · ${state.toLowerCase().replaceAll("_", " ")}`,
    ),
  );
  frame.append(...drawEdges(item, edges), ...item.children.map((child) => drawItem(child, edges, view)));
  return frame;
}

function clip(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

// Draws the graph into `container`; view = {selected, unfolded: Set, iterations: {path: label}, select(path),
// unfold(path), fold(path)}.
export function drawGraph(container, tasks, edges, view) {
  const root = buildTree(tasks, view.iterations || {});
  root.x = 0;
  root.y = 0;
  layout(root, edges, view.unfolded);
  const width = Math.max(root.width, NODE_WIDTH) + 2;
  const height = Math.max(root.height, NODE_HEIGHT) + 2;
  const drawing = svg(
    "svg",
    { class: "graph", width, height, viewBox: `-1 -1 ${width} ${height}` },
    svg(
      "defs",
      {},
      svg(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 8, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }),
      ),
    ),
    drawEdges(root, edges),
    root.children.map((child) => drawItem(child, edges, view)),
  );
  container.replaceChildren(drawing);
}
