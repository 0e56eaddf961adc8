// Starting a run: pick a pipeline file (found under the UI's folder, or uploaded), fill the form made from
// its typed inputs, choose a backend. The server checks every value before anything runs. A clone of a run
// (#/new?clone=RUN) opens the form of the pipeline that run ran, filled with its values and its backend.

import { el, getJSON, postJSON, runUrl } from "./api.js";

const HINTS = {
  STRING: "text",
  NUMBER_INTEGER: "a whole number",
  NUMBER_DOUBLE: "a number",
  BOOLEAN: "true or false",
  LIST: "a JSON list",
  STRUCT: "a JSON object",
};

function form(pipeline, backends, message, chosenBackend = null) {
  const fields = pipeline.inputs.map((input) => {
    const field =
      input.type === "LIST" || input.type === "STRUCT"
        ? el("textarea", { name: input.name, rows: 2 })
        : el("input", { name: input.name, type: "text" });
    field.value = input.default ?? "";
    field.placeholder = HINTS[input.type] || input.type;
    const note = input.default === null && !input.optional ? " (required)" : "";
    return el("label", {}, el("span", {}, `${input.name} `, el("em", {}, `${HINTS[input.type] || input.type}${note}`)), field);
  });
  const backend = el("select", { name: "backend", id: "backend" }, backends.map((name) => el("option", { value: name }, name)));
  if (chosenBackend && backends.includes(chosenBackend)) backend.value = chosenBackend;
  const submit = el("button", { type: "submit", id: "start" }, "Start");
  const start = el(
    "form",
    { id: "run-form" },
    el("h3", {}, `${pipeline.name} `, el("span", { class: "muted" }, pipeline.source)),
    fields.length ? fields : el("p", { class: "muted" }, "This pipeline takes no parameters."),
    el("label", {}, el("span", {}, "backend"), backend),
    submit,
  );
  start.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    submit.disabled = true;
    const params = Object.fromEntries(pipeline.inputs.map((input, index) => [input.name, fields[index].querySelector("input, textarea").value]));
    try {
      const started = await postJSON("/api/runs", { pipeline_id: pipeline.pipeline_id, params, backend: backend.value });
      location.hash = `#/runs/${started.run_id}`;
    } catch (error) {
      message.textContent = error.message;
      submit.disabled = false;
    }
  });
  return start;
}

export async function startView(main, query = new URLSearchParams()) {
  const found = await getJSON("/api/pipelines");
  const cloned = query.get("clone");
  if (cloned) {
    const message = el("p", { class: "error", id: "form-error", role: "alert" });
    const pipeline = await postJSON(runUrl(cloned, "/clone"), {});
    main.replaceChildren(
      el("h2", {}, "Clone run ", el("a", { href: `#/runs/${encodeURIComponent(cloned)}` }, cloned)),
      message,
      form(pipeline, found.backends, message, pipeline.backend),
    );
    return;
  }
  const message = el("p", { class: "error", id: "form-error", role: "alert" });
  const formBox = el("div", {});
  const picker = el(
    "select",
    { id: "pipeline-file" },
    el("option", { value: "" }, found.files.length ? "a pipeline file…" : "no pipeline files found"),
    found.files.map((file) => el("option", { value: file }, file)),
  );
  const upload = el("input", { type: "file", id: "pipeline-upload", accept: ".yaml,.yml,.py" });
  const load = async (request) => {
    message.textContent = "";
    formBox.replaceChildren(el("p", { class: "muted" }, "Loading the pipeline…"));
    try {
      const pipeline = await postJSON("/api/pipelines/inspect", request);
      formBox.replaceChildren(form(pipeline, found.backends, message));
    } catch (error) {
      formBox.replaceChildren();
      message.textContent = error.message;
    }
  };
  picker.addEventListener("change", () => picker.value && load({ path: picker.value }));
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (file) load({ name: file.name, text: await file.text() });
  });
  main.replaceChildren(
    el("h2", {}, "Start a run"),
    el("p", {}, `Pipelines under ${found.folder}: `, picker, " or upload one: ", upload),
    message,
    formBox,
  );
}
