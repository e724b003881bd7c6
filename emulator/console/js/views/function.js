// A function's page: its header (name, runtime, state, active deployment) and its tabs.

import { api } from "../api.js";
import { badge, debounce, h, replace } from "../dom.js";
import { concerns } from "../live.js";
import { renderCode } from "./code.js";
import { renderDeployments } from "./deployments.js";
import { focusExecuteNext, renderExecutions } from "./executions.js";
import { fnLink } from "./functions.js";
import { renderSettings } from "./settings.js";
import { renderVariables } from "./variables.js";

const TABS = [
  ["deployments", "Deployments", renderDeployments],
  ["executions", "Executions", renderExecutions],
  ["variables", "Variables", renderVariables],
  ["settings", "Settings", renderSettings],
  ["code", "Code", renderCode],
];

function headerFacts(fn, deployment) {
  return [
    h("span", { class: "fact" }, h("span", { class: "muted", text: "ID " }), h("code", { text: fn.$id })),
    h("span", { class: "fact" }, h("span", { class: "muted", text: "Runtime " }), h("code", { text: fn.runtime })),
    h("span", { class: "fact" }, badge(fn.enabled ? "enabled" : "disabled")),
    h("span", { class: "fact" }, h("span", { class: "muted", text: "Active deployment " }),
      deployment ? [h("code", { text: deployment.$id }), " ", badge(deployment.status)]
        : h("span", { class: "muted", text: "none" })),
  ];
}

export async function renderFunction(main, params, view) {
  const { id } = params;
  const tab = TABS.find(([name]) => name === params.tab) || TABS[0];
  let fn;
  let folders;
  [fn, folders] = await Promise.all([
    api.getFunction(id),
    api.listFolders().catch(() => ({ folders: [] })),
  ]);
  if (!view.alive) return;
  const hasFolder = folders.folders.some((f) => f.functionId === id);
  const title = h("h1", { text: fn.name });
  const facts = h("div", { class: "facts" });
  const panel = h("section", { class: "tab-panel", id: "tab-panel", "aria-label": tab[1] });
  const tabs = TABS.filter(([name]) => name !== "code" || hasFolder).map(([name, label]) =>
    h("a", {
      href: fnLink(id, name),
      class: "tab",
      "aria-current": name === tab[0] ? "page" : null,
      text: label,
    }));
  replace(main,
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/functions", text: "Functions" }), h("span", { text: fn.name })),
    h("div", { class: "page-header" },
      h("div", {}, title, facts),
      h("a", {
        class: "button primary",
        href: fnLink(id, "executions"),
        text: "Execute now",
        onclick: (event) => {
          const editor = document.getElementById("execution-data");
          if (editor) {
            event.preventDefault();
            editor.focus();
          } else focusExecuteNext();
        },
      })),
    h("nav", { class: "tabs", "aria-label": "Function" }, tabs),
    panel);

  const drawHeader = async (current) => {
    const deployment = current.deployment
      ? await api.getDeployment(id, current.deployment).catch(() => null)
      : null;
    if (!view.alive) return;
    title.textContent = current.name;
    replace(facts, headerFacts(current, deployment));
  };
  const refreshHeader = async () => {
    try {
      fn = await api.getFunction(id);
    } catch {
      return; // deleted: the tab says so
    }
    await drawHeader(fn);
  };
  const reloadHeader = debounce(refreshHeader, 150);
  view.cleanup(reloadHeader.cancel);
  view.live((message) => {
    if (message.resync || concerns(message, id, "deployments.") ||
      (message.events || []).includes(`functions.${id}.update`)) reloadHeader();
  });
  if (tab[0] === "code" && !hasFolder) {
    replace(panel, h("p", { class: "muted", text: "This function has no project folder: only functions of appwrite.json have code to edit here." }));
    await drawHeader(fn);
    return;
  }
  // The header and the tab load side by side: the tab's data does not wait for the header's.
  await Promise.all([drawHeader(fn), tab[2](panel, fn, view)]);
}
