// The page's router: the part of the address after # names the view.
//   #/runs[?state=..&pipeline=..]   #/runs/RUN   #/compare/RUN/RUN[/RUN...]   #/new[?clone=RUN]

import { el } from "./api.js";
import { compareView } from "./compare.js";
import { runView } from "./run.js";
import { runsView } from "./runs.js";
import { startView } from "./start.js";

let cleanups = [];

function route() {
  cleanups.forEach((cleanup) => cleanup());
  cleanups = [];
  const main = document.getElementById("view");
  const [path, search] = (location.hash.slice(1) || "/runs").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const failed = (error) => main.replaceChildren(el("p", { class: "error" }, error.message));
  if (parts[0] === "runs" && parts[1]) runView(main, parts[1], cleanups);
  else if (parts[0] === "compare" && parts.length >= 3) compareView(main, parts.slice(1)).catch(failed);
  else if (parts[0] === "new") startView(main, new URLSearchParams(search || "")).catch(failed);
  else runsView(main, new URLSearchParams(search || ""), cleanups);
}

window.addEventListener("hashchange", route);
route();
