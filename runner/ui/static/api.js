// Talking to the UI's server, building DOM nodes, and formatting values: what every view needs.

// The token `flow ui` printed in the address (?token=...): kept in this origin's storage (a reload or a new
// tab finds it; another port is another origin) and taken out of the address. Every API request carries it
// in a header; what the browser fetches by itself (event streams, images, frames, downloads) in its address.
const TOKEN_KEY = "flow-ui-token";
const NO_TOKEN = "this page has no valid token: open the address `flow ui` printed (it ends in ?token=...)";
let token = takeToken();

function takeToken() {
  const query = new URLSearchParams(location.search);
  const given = query.get("token");
  let kept = given;
  try {
    if (given) localStorage.setItem(TOKEN_KEY, given);
    else kept = localStorage.getItem(TOKEN_KEY);
  } catch {
    // No storage (a browser setting): the token serves this page only.
  }
  if (given !== null) {
    query.delete("token");
    const rest = query.toString();
    history.replaceState(history.state, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
  }
  return kept;
}

function authorization() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}${new URLSearchParams({ token })}`;
}

function refused(response) {
  if (response.status !== 401) return false;
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing kept: nothing to forget.
  }
  token = null;
  return true;
}

async function answer(response) {
  if (refused(response)) throw new Error(NO_TOKEN);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

export async function getJSON(url) {
  return answer(await fetch(url, { credentials: "same-origin", headers: authorization() }));
}

export async function postJSON(url, data) {
  return answer(
    await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", ...authorization() },
      body: JSON.stringify(data),
    }),
  );
}

export async function getText(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: authorization() });
  if (refused(response)) throw new Error(NO_TOKEN);
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.text();
}

export function runUrl(runId, rest = "") {
  return `/api/runs/${encodeURIComponent(runId)}${rest}`;
}

export function taskPathUrl(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

// Every text goes in as a text node: names, values and file contents come from pipelines, not from us.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, "data-state": state }, state.replaceAll("_", " ").toLowerCase());
}

export const fmt = {
  duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 60) return `${seconds.toFixed(1)}s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
    return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
  },
  size(bytes) {
    if (bytes === null || bytes === undefined) return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  },
  when(timestamp) {
    return timestamp ? new Date(timestamp * 1000).toLocaleString() : "-";
  },
  value(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  },
};

// A table of name/value pairs; an empty object shows a dash.
export function valuesTable(values, className = "values") {
  const entries = Object.entries(values || {});
  if (!entries.length) return el("span", { class: "muted" }, "-");
  return el(
    "table",
    { class: className },
    el("tbody", {}, entries.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, fmt.value(value))))),
  );
}

// Durations that go on (a running task's, a running run's): elements with data-since (epoch seconds) show
// the time since then, after their data-prefix. The page calls this every second.
export function tickDurations(root = document) {
  const now = Date.now() / 1000;
  for (const node of root.querySelectorAll("[data-since]")) {
    node.textContent = `${node.dataset.prefix || ""}${fmt.duration(now - Number(node.dataset.since))}`;
  }
}
