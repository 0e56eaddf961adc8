// Artifacts: the list, and a preview of one (table, text, image, sandboxed page, metrics).

import { el, fmt, getJSON, runUrl, valuesTable, withToken } from "./api.js";
import { lineChart } from "./charts.js";

const METRICS = "system.Metrics";
const CLASSIFICATION = "system.ClassificationMetrics";

function fileUrl(runId, path, download = false) {
  const query = new URLSearchParams({ path });
  if (download) query.set("download", "1");
  return withToken(runUrl(runId, `/file?${query}`));
}

function sandboxUrl(runId, path) {
  return withToken(`/sandbox/runs/${encodeURIComponent(runId)}?${new URLSearchParams({ path })}`);
}

// The server hands out only files in the run's own folder of the root; an imported artifact elsewhere (a
// file of some machine, an object store's URI, another folder of the root) is shown by its URI alone.
const OUTSIDE_NOTE = "outside the run's folder: not served";

function inRunFolder(runId, uri) {
  return uri.startsWith(`${runId}/`);
}

// Each artifact with its lineage: the task that made it and those that took it as an input (a click on one
// selects it on the run page).
// An image artifact shown inline, small; its preview shows it whole.
export function thumbnail(runId, artifact) {
  return el("img", { class: "thumb", src: fileUrl(runId, artifact.uri), alt: artifact.name, loading: "lazy" });
}

export function artifactsTable(runId, artifacts, show, selectTask) {
  const taskLink = (path) =>
    el("a", { href: "#", class: "task-link", onclick: (event) => (event.preventDefault(), selectTask(path)) }, path);
  if (!artifacts.length) return el("p", { class: "muted" }, "No artifacts yet.");
  return el(
    "table",
    { class: "list artifacts" },
    el("thead", {}, el("tr", {}, ["made by", "name", "type", "size", "used by", "uri", ""].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      artifacts.map((artifact) =>
        el(
          "tr",
          { "data-uri": artifact.uri },
          el("td", { class: "made-by" }, taskLink(artifact.task_path)),
          el("td", {}, artifact.name, artifact.image ? thumbnail(runId, artifact) : null),
          el("td", {}, artifact.type),
          el("td", {}, fmt.size(artifact.size)),
          el("td", { class: "used-by lineage" }, artifact.consumers.length ? artifact.consumers.map(taskLink) : "-"),
          el("td", { class: "uri" }, artifact.uri),
          el(
            "td",
            { class: "actions" },
            el("button", { type: "button", class: "preview-button", onclick: () => show(artifact) }, "Preview"),
            " ",
            inRunFolder(runId, artifact.uri)
              ? el("a", { href: fileUrl(runId, artifact.uri, true), download: artifact.name }, "Download")
              : el("span", { class: "muted" }, OUTSIDE_NOTE),
          ),
        ),
      ),
    ),
  );
}

function metricsTable(metadata) {
  const scalars = Object.entries(metadata).filter(([, value]) => typeof value !== "object" || value === null);
  return el(
    "table",
    { class: "metrics" },
    el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", {}, "value"))),
    el("tbody", {}, scalars.map(([name, value]) => el("tr", {}, el("td", {}, name), el("td", {}, fmt.value(value))))),
  );
}

function confusionMatrix(matrix) {
  const labels = (matrix.annotationSpecs || []).map((spec) => spec.displayName);
  const rows = (matrix.rows || []).map((row) => row.row || []);
  const largest = Math.max(1, ...rows.flat());
  return el(
    "table",
    { class: "confusion-matrix" },
    el("caption", {}, "Confusion matrix (rows: true class, columns: predicted)"),
    el("thead", {}, el("tr", {}, el("th", {}, ""), labels.map((label) => el("th", {}, label)))),
    el(
      "tbody",
      {},
      rows.map((row, index) =>
        el(
          "tr",
          {},
          el("th", {}, labels[index] ?? ""),
          row.map((value) => {
            const cell = el("td", {}, fmt.value(value));
            cell.style.backgroundColor = `rgba(37, 99, 235, ${(0.08 + (0.8 * value) / largest).toFixed(2)})`;
            return cell;
          }),
        ),
      ),
    ),
  );
}

// ROC from each point's false positive rate and recall; precision-recall where the points carry precision.
function curves(points) {
  const roc = points.filter((p) => typeof p.falsePositiveRate === "number" && typeof p.recall === "number");
  const pr = points.filter((p) => typeof p.precision === "number" && typeof p.recall === "number");
  return el(
    "div",
    { class: "charts" },
    roc.length
      ? lineChart({
          title: "ROC curve",
          xLabel: "false positive rate",
          yLabel: "true positive rate",
          points: roc.map((p) => [p.falsePositiveRate, p.recall]),
          unitRange: true,
        })
      : null,
    pr.length
      ? lineChart({
          title: "Precision-recall curve",
          xLabel: "recall",
          yLabel: "precision",
          points: pr.map((p) => [p.recall, p.precision]),
          unitRange: true,
        })
      : null,
  );
}

function rocTable(points) {
  return el(
    "table",
    { class: "roc" },
    el("thead", {}, el("tr", {}, ["threshold", "false positive rate", "recall"].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      points.map((p) =>
        el("tr", {}, [p.confidenceThreshold, p.falsePositiveRate, p.recall].map((v) => el("td", {}, fmt.value(v)))),
      ),
    ),
  );
}

function csvTable(rows, more) {
  const [header, ...body] = rows;
  return el(
    "div",
    {},
    el(
      "table",
      { class: "csv" },
      el("thead", {}, el("tr", {}, (header || []).map((cell) => el("th", {}, cell)))),
      el("tbody", {}, body.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))),
    ),
    more ? el("p", { class: "muted" }, "Only the first rows are shown; download the file for all of it.") : null,
  );
}

async function filePreview(runId, path) {
  const shown = await getJSON(runUrl(runId, `/preview?${new URLSearchParams({ path })}`));
  const note = shown.truncated ? el("p", { class: "muted" }, `The first part of ${fmt.size(shown.size)}.`) : null;
  switch (shown.kind) {
    case "csv":
      return csvTable(shown.rows, shown.more_rows);
    case "json":
    case "text":
      return el("div", {}, el("pre", { class: `file ${shown.kind}` }, shown.text), note);
    case "image":
      return el("img", { class: "image", src: fileUrl(runId, path), alt: path });
    case "html":
    case "markdown":
      // An empty sandbox attribute: no script, no forms, no origin; the server's CSP says the same.
      return el("iframe", { class: "sandboxed", sandbox: "", src: sandboxUrl(runId, path), title: path });
    case "folder":
      return el(
        "ul",
        { class: "folder" },
        shown.files.map((file) =>
          el(
            "li",
            {},
            el("a", { href: "#", onclick: (event) => openInPlace(event, runId, file.path) }, file.path),
            ` (${fmt.size(file.size)})`,
          ),
        ),
      );
    default:
      return el("p", { class: "muted" }, `A binary file of ${fmt.size(shown.size)}: download it to look inside.`);
  }
}

async function openInPlace(event, runId, path) {
  event.preventDefault();
  const target = event.target.closest(".preview-body");
  target.replaceChildren(el("p", { class: "muted" }, `Loading ${path}…`));
  target.replaceChildren(await filePreview(runId, path).catch((error) => el("p", { class: "error" }, error.message)));
}

// The preview of one artifact: metrics from its metadata, anything else from its file.
export async function previewArtifact(runId, artifact) {
  const body = el("div", { class: "preview-body" });
  const panel = el(
    "section",
    { class: "preview", "data-uri": artifact.uri },
    el("h3", {}, `${artifact.task_path} · ${artifact.name}`, el("span", { class: "muted" }, ` ${artifact.type}`)),
    body,
  );
  const metadata = artifact.metadata || {};
  if (artifact.type === METRICS) {
    body.append(metricsTable(metadata));
    return panel;
  }
  if (artifact.type === CLASSIFICATION) {
    if (metadata.confusionMatrix) body.append(confusionMatrix(metadata.confusionMatrix));
    if (Array.isArray(metadata.confidenceMetrics)) {
      body.append(
        curves(metadata.confidenceMetrics),
        el("details", {}, el("summary", {}, "Curve points"), rocTable(metadata.confidenceMetrics)),
      );
    }
    return panel;
  }
  if (Object.keys(metadata).length) body.append(el("h4", {}, "Metadata"), valuesTable(metadata));
  if (!inRunFolder(runId, artifact.uri)) {
    body.append(el("p", { class: "muted" }, `${artifact.uri}: ${OUTSIDE_NOTE}`));
    return panel;
  }
  body.append(await filePreview(runId, artifact.uri).catch((error) => el("p", { class: "error" }, error.message)));
  return panel;
}
