// The console's entry point: access (the key), the router (`#/...` addresses) and the live stream.

import { PROJECT, VERSION, api, auth, onUnauthorized } from "./api.js";
import { field, h, replace, showFieldError } from "./dom.js";
import { onLive, startLive, stopLive } from "./live.js";
import { renderCreateFunction } from "./views/create.js";
import { renderEmulator } from "./views/emulator.js";
import { renderExecution } from "./views/execution.js";
import { renderFunction } from "./views/function.js";
import { renderFunctions } from "./views/functions.js";

const main = document.getElementById("main");
let current = null; // the view on screen: {cleanups, alive}

/** What a view gets: `live(handler)` (stopped when the view goes), `alive()`, `cleanup(fn)`. */
function newView() {
  const view = {
    alive: true,
    cleanups: [],
    live(handler) {
      this.cleanups.push(onLive(handler));
    },
    cleanup(fn) {
      this.cleanups.push(fn);
    },
    close() {
      this.alive = false;
      for (const fn of this.cleanups) fn();
    },
  };
  return view;
}

const ROUTES = [
  [/^functions\/create$/, () => ["functions", renderCreateFunction, {}]],
  [/^functions\/([^/]+)\/executions\/([^/]+)$/, (m) => ["functions", renderExecution, { id: m[1], executionId: m[2] }]],
  [/^functions\/([^/]+)(?:\/([a-z]+))?$/, (m) => ["functions", renderFunction, { id: m[1], tab: m[2] || "deployments" }]],
  [/^emulator$/, () => ["emulator", renderEmulator, {}]],
  [/^(functions)?$/, () => ["functions", renderFunctions, {}]],
];

function route() {
  const path = decodeURI(location.hash.replace(/^#\/?/, "")).replace(/\/$/, "");
  for (const [pattern, make] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      const [section, render, params] = make(match);
      for (const [k, v] of Object.entries(params)) params[k] = decodeURIComponent(v);
      return { section, render, params };
    }
  }
  return { section: "", render: renderNotFound, params: {} };
}

function renderNotFound(target) {
  replace(target, h("h1", { text: "Not found" }),
    h("p", {}, "Nothing lives at this address. ", h("a", { href: "#/functions", text: "Go to Functions" })));
}

let lastPath = null;

async function show() {
  if (!auth.key) return;
  const { section, render, params } = route();
  const samePage = lastPath !== null && lastPath.split("/").slice(0, 3).join("/") ===
    location.hash.split("/").slice(0, 3).join("/");
  lastPath = location.hash;
  if (current) current.close();
  const view = newView();
  current = view;
  for (const link of document.querySelectorAll(".sidebar a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  try {
    await render(main, params, view);
  } catch (error) {
    if (!view.alive) return;
    replace(main, h("h1", { text: "Something went wrong" }),
      h("div", { class: "callout callout-danger", role: "alert", text: error.message }));
  } finally {
    if (view.alive) main.removeAttribute("aria-busy");
  }
  // Moving to another page puts the focus on its heading, as a page load would.
  if (view.alive && !samePage) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
  }
}

/** The page that asks for the API key (when the emulator is not on this machine's loopback). */
function renderSignIn(message = "") {
  if (current) current.close();
  current = null;
  stopLive();
  document.body.classList.add("signed-out");
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true, spellcheck: "false" });
  const form = h("form", { class: "card signin", novalidate: true },
    h("h1", { text: "Sign in to the console" }),
    h("p", {}, "This emulator listens on a network address, so the console needs its API key. ",
      "The start-up banner prints it. It is kept in this browser tab only (session storage)."),
    field("API key", input, { hint: `The key of project ${PROJECT}` }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary", text: "Continue" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      showFieldError(form, "key", "Enter the API key.");
      return;
    }
    auth.key = key;
    try {
      await api.listFunctions();
    } catch (error) {
      auth.key = "";
      showFieldError(form, "key", error.code === 401 ? "This key is not the emulator's API key." : error.message);
      input.focus();
      return;
    }
    auth.remember(key);
    start();
  });
  replace(main, form);
  if (message) showFieldError(form, "key", message);
  input.focus();
}

function start() {
  document.body.classList.remove("signed-out");
  document.getElementById("sign-out").hidden = auth.embedded;
  startLive(document.getElementById("live-status"));
  lastPath = null;
  show();
}

function boot() {
  document.getElementById("project-id").textContent = PROJECT;
  document.getElementById("api-version").textContent = VERSION;
  document.getElementById("skip-link").addEventListener("click", () => main.focus());
  document.getElementById("sign-out").addEventListener("click", () => {
    auth.forget();
    renderSignIn();
  });
  onUnauthorized(() => {
    // The page's own key: nothing to type. On the sign-in page, the form says it itself.
    if (auth.embedded || document.body.classList.contains("signed-out")) return;
    auth.forget();
    renderSignIn("The emulator refused the key: enter it again.");
  });
  window.addEventListener("hashchange", show);
  if (!location.hash) history.replaceState(null, "", "#/functions");
  if (auth.key) start();
  else renderSignIn();
}

boot();
