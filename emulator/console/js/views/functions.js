// Functions: every function with its runtime, state, active deployment, schedule and last run.

import { Query, api } from "../api.js";
import { badge, debounce, emptyState, errorBox, formatCount, h, replace, timeTag } from "../dom.js";
import { matching } from "../live.js";

export const fnLink = (id, tab = "") => `#/functions/${encodeURIComponent(id)}${tab ? `/${tab}` : ""}`;

async function details(fn) {
  const [deployment, last] = await Promise.all([
    fn.deployment ? api.getDeployment(fn.$id, fn.deployment).catch(() => null) : null,
    fn.enabled
      ? api.listExecutions(fn.$id, [Query.limit(1), Query.newestFirst()])
        .then((list) => list.executions[0] || null)
        .catch(() => null)
      : null,
  ]);
  return { deployment, last };
}

function lastExecutionCell(fn, last) {
  if (!fn.enabled) return h("span", { class: "muted", text: "disabled" });
  if (!last) return h("span", { class: "muted", text: "never" });
  return h("span", { class: "stack" },
    h("a", { href: `${fnLink(fn.$id)}/executions/${encodeURIComponent(last.$id)}` }, badge(last.status)),
    h("span", { class: "muted small" }, timeTag(last.$createdAt)));
}

function deploymentCell(fn, deployment) {
  if (!fn.deployment) return h("span", { class: "muted", text: "no active deployment" });
  if (!deployment) return h("span", { class: "muted", text: "—" });
  return h("span", { class: "stack" }, badge(deployment.status),
    h("code", { class: "muted small", text: deployment.$id }));
}

function row(fn, info) {
  const tr = h("tr", { dataset: { functionId: fn.$id } },
    h("th", { scope: "row" },
      h("a", { href: fnLink(fn.$id), class: "strong", text: fn.name }),
      h("div", { class: "muted small" }, h("code", { text: fn.$id }))),
    h("td", {}, h("code", { text: fn.runtime })),
    h("td", {}, badge(fn.enabled ? "enabled" : "disabled")),
    h("td", { class: "cell-deployment" }, deploymentCell(fn, info.deployment)),
    h("td", {}, fn.schedule
      ? h("span", { class: "stack" }, h("code", { text: fn.schedule }),
        h("span", { class: "muted small" }, "next ", timeTag(fn.scheduleNext)))
      : h("span", { class: "muted", text: "—" })),
    h("td", { class: "cell-last" }, lastExecutionCell(fn, info.last)));
  return tr;
}

export async function renderFunctions(main, _params, view) {
  const body = h("div", { class: "page-body" });
  replace(main,
    h("div", { class: "page-header" },
      h("div", {}, h("h1", { text: "Functions" }),
        h("p", { class: "muted", text: "Every function of this project, live." })),
      h("a", { class: "button primary", href: "#/functions/create", text: "Create function" })),
    body);

  let functions = [];
  const load = async () => {
    let list;
    try {
      list = await api.listFunctions();
    } catch (error) {
      if (view.alive) replace(body, errorBox(error.message));
      return;
    }
    functions = list.functions;
    const infos = await Promise.all(functions.map(details));
    if (!view.alive) return;
    if (!functions.length) {
      replace(body, emptyState("No functions yet",
        "Create one here, with the SDK or the CLI, or serve a project folder with appwrite.json.",
        h("a", { class: "button primary", href: "#/functions/create", text: "Create function" })));
      return;
    }
    const table = h("table", { class: "table" },
      h("caption", { class: "visually-hidden", text: "Functions" }),
      h("thead", {}, h("tr", {},
        ["Name", "Runtime", "State", "Active deployment", "Schedule", "Last execution"]
          .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, functions.map((fn, i) => row(fn, infos[i]))));
    replace(body, h("p", { class: "muted small", text: `${formatCount(list.total)} function(s)` }),
      h("div", { class: "card table-card" }, table));
  };
  const reload = debounce(load, 150);
  view.cleanup(reload.cancel);

  view.live((message) => {
    if (message.resync) return reload();
    const executionEvent = matching(message, /^functions\.[^.*]+\.executions\.[^.*]+\.(create|update)$/);
    if (executionEvent && message.payload?.$id) {
      // Only the last-execution cell changes: no need to read everything again.
      const execution = message.payload;
      const fn = functions.find((f) => f.$id === execution.functionId);
      const cell = body.querySelector(`tr[data-function-id="${CSS.escape(execution.functionId)}"] .cell-last`);
      if (fn && cell) replace(cell, lastExecutionCell(fn, execution));
      return;
    }
    if (matching(message, /^functions\./)) reload();
  });
  await load();
}

