// A function's Executions: "Execute now" (payload, async), and the table of executions, filtered
// by status and trigger, read one page at a time with the API's cursor paging, updated live.

import { Query, api } from "../api.js";
import {
  badge, debounce, emptyState, errorBox, field, formatCount, formatDuration, h, prettyJson, replace, timeTag,
} from "../dom.js";
import { concerns } from "../live.js";
import { fnLink } from "./functions.js";
import { clearErrors, formError, showError } from "./forms.js";

export const PAGE_SIZE = 25;
const FINAL = new Set(["completed", "failed"]);
let focusExecuteOnRender = false;

/** Put the focus on the payload editor when the Executions tab opens next. */
export function focusExecuteNext() {
  focusExecuteOnRender = true;
}

export const executionLink = (functionId, executionId) =>
  `${fnLink(functionId)}/executions/${encodeURIComponent(executionId)}`;

/** The outcome of one execution: status, code, duration, response, logs. */
export function resultCard(execution) {
  const response = prettyJson(execution.response);
  return h("div", { class: "result", dataset: { executionId: execution.$id, status: execution.status } },
    h("div", { class: "result-head" },
      badge(execution.status),
      h("span", {}, h("span", { class: "muted", text: "Status code " }), h("strong", { class: "status-code", text: String(execution.statusCode) })),
      h("span", {}, h("span", { class: "muted", text: "Duration " }), formatDuration(execution.duration)),
      h("a", { href: executionLink(execution.functionId, execution.$id), text: execution.$id })),
    FINAL.has(execution.status)
      ? [
        h("h3", { class: "log-title", text: "Response" }),
        h("pre", { class: "log response", text: response || "(empty)" }),
        execution.stdout ? [h("h3", { class: "log-title", text: "stdout" }), h("pre", { class: "log", text: execution.stdout })] : null,
        execution.stderr ? [h("h3", { class: "log-title", text: "stderr" }), h("pre", { class: "log log-error", text: execution.stderr })] : null,
      ]
      : h("p", { class: "muted", text: "Running… the result shows here when it is done." }));
}

function executeForm(fn, view) {
  const data = h("textarea", { id: "execution-data", name: "data", rows: 4, spellcheck: "false", class: "code-input", placeholder: '{"name": "Ada"}' });
  const runAsync = h("input", { type: "checkbox", name: "async" });
  const result = h("div", { class: "execute-result", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary", text: "Execute now" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Execute now" },
    h("h2", { text: "Execute now" }),
    field("Payload", data, { hint: "Sent as the request's data (req.payload); any text, JSON or not, up to 8,192 characters." }),
    field("Async", runAsync, { inline: true, hint: "Answer at once (waiting) and run in the background." }),
    formError(),
    h("div", { class: "actions" }, submit),
    result);
  let watched = null; // the async execution whose result is on screen
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      const execution = await api.createExecution(fn.$id, data.value, runAsync.checked);
      watched = FINAL.has(execution.status) ? null : execution.$id;
      replace(result, resultCard(execution));
    } catch (error) {
      showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  // Keyboard: Ctrl+Enter in the payload runs it.
  data.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  view.live((message) => {
    const execution = message.payload;
    if (watched && execution && execution.$id === watched) {
      replace(result, resultCard(execution));
      if (FINAL.has(execution.status)) watched = null;
    } else if (watched && message.resync) {
      api.getExecution(fn.$id, watched).then((e) => view.alive && replace(result, resultCard(e))).catch(() => {});
    }
  });
  return { form, data };
}

function filters(onChange) {
  const status = h("select", { name: "status" },
    [["", "All statuses"], ["waiting", "waiting"], ["processing", "processing"], ["completed", "completed"], ["failed", "failed"]]
      .map(([v, t]) => h("option", { value: v, text: t })));
  const trigger = h("select", { name: "trigger" },
    [["", "All triggers"], ["http", "http"], ["schedule", "schedule"], ["event", "event"]]
      .map(([v, t]) => h("option", { value: v, text: t })));
  status.addEventListener("change", onChange);
  trigger.addEventListener("change", onChange);
  return {
    element: h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      field("Status", status), field("Trigger", trigger)),
    read: () => ({ status: status.value, trigger: trigger.value }),
  };
}

function executionRow(e) {
  return h("tr", { dataset: { executionId: e.$id, status: e.status } },
    h("th", { scope: "row" }, h("a", { href: executionLink(e.functionId, e.$id) }, h("code", { text: e.$id }))),
    h("td", { class: "cell-status" }, badge(e.status)),
    h("td", { text: e.trigger }),
    h("td", { class: "cell-code", text: FINAL.has(e.status) ? String(e.statusCode) : "—" }),
    h("td", { class: "cell-duration", text: FINAL.has(e.status) ? formatDuration(e.duration) : "—" }),
    h("td", {}, timeTag(e.$createdAt)));
}

export async function renderExecutions(panel, fn, view) {
  const execute = executeForm(fn, view);
  const table = h("div", { class: "executions-table" });
  const summary = h("p", { class: "muted small", role: "status" });
  const previous = h("button", { type: "button", class: "button secondary small", text: "Previous page" });
  const next = h("button", { type: "button", class: "button secondary small", text: "Next page" });
  const pageLabel = h("span", { class: "muted small" });
  // Cursor paging: the first row of every page seen so far (page 1: none).
  let cursors = [null];
  let rows = [];
  let requested = 0;
  const filter = filters(() => {
    cursors = [null];
    load();
  });

  const load = async () => {
    const ticket = ++requested;
    const { status, trigger } = filter.read();
    const list = [Query.limit(PAGE_SIZE), Query.newestFirst()];
    if (status) list.push(Query.equal("status", status));
    if (trigger) list.push(Query.equal("trigger", trigger));
    const cursor = cursors[cursors.length - 1];
    if (cursor) list.push(Query.cursorAfter(cursor));
    let data;
    try {
      data = await api.listExecutions(fn.$id, list);
    } catch (error) {
      if (view.alive && ticket === requested) replace(table, errorBox(error.message));
      return;
    }
    if (!view.alive || ticket !== requested) return;
    rows = data.executions;
    const page = cursors.length;
    const first = (page - 1) * PAGE_SIZE + 1;
    const totalText = data.total >= 5000 ? "5,000+" : formatCount(data.total);
    summary.textContent = rows.length
      ? `Executions ${formatCount(first)}–${formatCount(first + rows.length - 1)} of ${totalText}`
      : `No executions${status || trigger ? " match these filters" : ""}`;
    pageLabel.textContent = `Page ${page}`;
    previous.disabled = page === 1;
    next.disabled = rows.length < PAGE_SIZE;
    if (!rows.length) {
      replace(table, emptyState(status || trigger ? "Nothing matches" : "No executions yet",
        status || trigger ? "Change the filters to see more." : "Execute the function above, or let a schedule or an event run it."));
      return;
    }
    replace(table, h("div", { class: "card table-card" }, h("table", { class: "table", id: "executions" },
      h("caption", { class: "visually-hidden", text: "Executions" }),
      h("thead", {}, h("tr", {}, ["Execution", "Status", "Trigger", "Status code", "Duration", "Created"]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows.map(executionRow)))));
  };
  next.addEventListener("click", () => {
    if (!rows.length) return;
    cursors.push(rows[rows.length - 1].$id);
    load();
  });
  previous.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    load();
  });

  const reload = debounce(load, 100);
  view.cleanup(reload.cancel);
  view.live((message) => {
    if (message.resync) return reload();
    if (!concerns(message, fn.$id, "executions.")) return;
    const execution = message.payload;
    const existing = execution && table.querySelector(`tr[data-execution-id="${CSS.escape(execution.$id)}"]`);
    if (existing) {
      existing.replaceWith(executionRow(execution)); // a status change: in place
      const index = rows.findIndex((r) => r.$id === execution.$id);
      if (index >= 0) rows[index] = execution;
      const { status } = filter.read();
      if (status && execution.status !== status) reload();
    } else if (cursors.length === 1) {
      reload(); // a new execution: the first page shows it
    }
  });

  replace(panel, execute.form,
    h("div", { class: "section-header" }, h("h2", { text: "Executions" }), filter.element),
    summary, table,
    h("div", { class: "pager" }, previous, pageLabel, next));
  if (focusExecuteOnRender) {
    focusExecuteOnRender = false;
    execute.data.focus();
  }
  await load();
}
