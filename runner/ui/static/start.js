// Starting a run: pick a pipeline file (found under the UI's folder, or uploaded), fill the form made from
// its typed inputs, choose a backend. The server checks every value before anything runs.

import { el, getJSON, postJSON } from "./api.js";

const HINTS = {
  STRING: "text",
  NUMBER_INTEGER: "a whole number",
  NUMBER_DOUBLE: "a number",
  BOOLEAN: "true or false",
  LIST: "a JSON list",
  STRUCT: "a JSON object",
};

function form(pipeline, backends, message) {
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

export async function startView(main) {
  const found = await getJSON("/api/pipelines");
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
