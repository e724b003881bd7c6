// One execution: its fields, the response (pretty-printed when JSON), stdout and stderr; live
// until it finished.

import { api } from "../api.js";
import { badge, formatDuration, h, prettyJson, replace, timeTag } from "../dom.js";
import { fnLink } from "./functions.js";

function facts(e) {
  const rows = [
    ["Execution ID", h("code", { text: e.$id })],
    ["Function", h("a", { href: fnLink(e.functionId, "executions") }, h("code", { text: e.functionId }))],
    ["Status", badge(e.status)],
    ["Trigger", e.trigger],
    ["Status code", String(e.statusCode)],
    ["Duration", formatDuration(e.duration)],
    ["Created", timeTag(e.$createdAt)],
    ["Updated", timeTag(e.$updatedAt)],
  ];
  return h("dl", { class: "facts-grid" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

function output(title, text, extra = "") {
  return h("section", { class: "card output" },
    h("h2", { text: title }),
    text ? h("pre", { class: `log ${extra}`, tabindex: "0", text }) : h("p", { class: "muted", text: "(empty)" }));
}

export async function renderExecution(main, params, view) {
  const { id, executionId } = params;
  const body = h("div", {});
  const draw = (e) => replace(body,
    h("div", { class: "card" }, facts(e)),
    output("Response", prettyJson(e.response), "response"),
    h("div", { class: "grid-2" }, output("stdout", e.stdout), output("stderr", e.stderr, "log-error")));
  const execution = await api.getExecution(id, executionId);
  if (!view.alive) return;
  replace(main,
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/functions", text: "Functions" }),
      h("a", { href: fnLink(id), text: id }),
      h("a", { href: fnLink(id, "executions"), text: "Executions" }),
      h("span", { text: executionId })),
    h("div", { class: "page-header" }, h("h1", { text: "Execution" })),
    body);
  draw(execution);
  view.live((message) => {
    // Read it again rather than draw the payload: an event started by a guest carries no logs.
    if (message.payload?.$id === executionId || message.resync) {
      api.getExecution(id, executionId).then((e) => view.alive && draw(e)).catch(() => {});
    }
  });
}
