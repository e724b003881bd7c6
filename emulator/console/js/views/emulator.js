// Emulator controls: run a schedule now, advance the virtual clock, fire an event, reset.

import { api } from "../api.js";
import {
  badge, confirmDialog, debounce, emptyState, field, h, replace, timeTag, toast,
} from "../dom.js";
import { matching } from "../live.js";
import { executionLink } from "./executions.js";
import { fnLink } from "./functions.js";
import { clearErrors, formError, showError } from "./forms.js";

function executionList(executions) {
  if (!executions.length) return h("p", { class: "muted", text: "No function ran." });
  return h("ul", { class: "plain-list" }, executions.map((e) => h("li", { dataset: { executionId: e.$id } },
    badge(e.status), " ",
    h("a", { href: executionLink(e.functionId, e.$id) }, h("code", { text: e.functionId }), " · ", h("code", { text: e.$id })),
    " ", h("span", { class: "muted small" }, e.trigger, " · ", timeTag(e.$createdAt)))));
}

function clockSection(view) {
  const now = h("strong", { class: "clock-now" });
  const seconds = h("input", { name: "seconds", type: "number", min: 0, step: 1, value: 60 });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Virtual clock" },
    h("h2", { text: "Virtual clock" }),
    h("p", {}, "Now (virtual): ", now),
    h("p", { class: "muted small", text: "Real time plus an offset that only grows. Schedules due in the skipped time run at their own minute, in order." }),
    field("Seconds to advance", seconds),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary", text: "Advance clock" })),
    result);
  // Read once (and after each advance); between reads it ticks with the browser's clock.
  let offset = 0;
  const tick = () => replace(now, timeTag(new Date(Date.now() + offset).toISOString()));
  const sync = (iso) => {
    offset = new Date(iso).getTime() - Date.now();
    tick();
  };
  const refresh = async () => {
    try {
      const clock = await api.getClock();
      if (view.alive) sync(clock.now);
    } catch {
      // the emulator is restarting: the next live resync reads it again
    }
  };
  view.live((message) => { if (message.resync) refresh(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const value = Number(seconds.value);
    replace(result, h("p", { class: "muted", text: "Advancing… (waits for the schedules it runs)" }));
    try {
      const answer = await api.advanceClock(Number.isFinite(value) && seconds.value !== "" ? value : seconds.value);
      sync(answer.now);
      replace(result, h("h3", { text: `${answer.executions.length} scheduled execution(s) ran` }), executionList(answer.executions));
    } catch (error) {
      replace(result);
      showError(form, error);
    }
  });
  refresh();
  const timer = setInterval(tick, 1000);
  view.cleanup(() => clearInterval(timer));
  return form;
}

function schedulesSection(view) {
  const body = h("div", {});
  const result = h("div", { "aria-live": "polite" });
  const load = async () => {
    const { functions } = await api.listFunctions();
    if (!view.alive) return;
    if (!functions.length) {
      replace(body, emptyState("No functions", "Create a function to run its schedule."));
      return;
    }
    replace(body, h("table", { class: "table" },
      h("caption", { class: "visually-hidden", text: "Schedules" }),
      h("thead", {}, h("tr", {}, ["Function", "Schedule", "Next run", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, functions.map((fn) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: fnLink(fn.$id), text: fn.name })),
        h("td", {}, fn.schedule ? h("code", { text: fn.schedule }) : h("span", { class: "muted", text: "none" })),
        h("td", {}, timeTag(fn.scheduleNext)),
        h("td", { class: "row-actions" }, h("button", {
          type: "button", class: "button secondary small", text: "Run now",
          "aria-label": `Run the schedule of ${fn.name} now`,
          onclick: async (event) => {
            const button = event.currentTarget;
            button.disabled = true;
            replace(result, h("p", { class: "muted", text: `Running ${fn.name}…` }));
            try {
              const execution = await api.runSchedule(fn.$id);
              replace(result, executionList([execution]));
            } catch (error) {
              replace(result, h("div", { class: "callout callout-danger", role: "alert", text: error.message }));
            } finally {
              button.disabled = false;
            }
          },
        })))))));
  };
  const reload = debounce(load, 200);
  view.cleanup(reload.cancel);
  view.live((message) => {
    if (message.resync || matching(message, /^functions\.[^.*]+\.(create|update|delete)$/)) reload();
  });
  load();
  return h("section", { class: "card", "aria-label": "Schedules" },
    h("h2", { text: "Schedules" }),
    h("p", { class: "muted small", text: "Run a function's schedule now, as the scheduler would: its next run moves on." }),
    body, result);
}

function eventSection() {
  const name = h("input", { name: "event", autocomplete: "off", spellcheck: "false", placeholder: "users.u1.create" });
  const payload = h("textarea", { name: "payload", rows: 4, spellcheck: "false", class: "code-input" });
  payload.value = "{}";
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Fire an event" },
    h("h2", { text: "Fire an event" }),
    h("p", { class: "muted small", text: "Deliver an event of any 1.3 service (users, databases, buckets, teams, functions): every function subscribed to it runs." }),
    field("Event", name, { hint: "A concrete event name, e.g. databases.shop.collections.orders.documents.o1.create" }),
    field("Payload (JSON object)", payload),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary", text: "Fire event" })),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    replace(result);
    let data;
    try {
      data = payload.value.trim() ? JSON.parse(payload.value) : {};
    } catch (error) {
      showError(form, { param: "payload", message: `The payload is not JSON: ${error.message}` });
      return;
    }
    try {
      const answer = await api.fireEvent(name.value.trim(), data);
      replace(result, h("h3", { text: `${answer.total} function(s) started` }), executionList(answer.executions));
    } catch (error) {
      showError(form, error);
    }
  });
  return form;
}

function resetSection() {
  const keep = h("input", { type: "checkbox", name: "keepFunctions" });
  const button = h("button", { type: "submit", class: "button danger", text: "Reset project" });
  const form = h("form", { class: "card form danger-zone", novalidate: true, "aria-label": "Reset" },
    h("h2", { text: "Reset" }),
    h("p", { class: "muted small", text: "Back to an empty project without a restart: every function, variable, deployment and execution is deleted." }),
    field("Keep functions (delete executions only)", keep, { inline: true }),
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = await confirmDialog({
      title: "Reset project",
      message: keep.checked
        ? "Delete every execution? Functions and their deployments stay."
        : "Delete every function with its variables, deployments and executions?",
      confirmLabel: "Reset", danger: true,
    });
    if (!ok) return;
    try {
      await api.reset(keep.checked);
      toast(keep.checked ? "Executions deleted" : "Project reset", "success");
    } catch (error) {
      toast(error.message, "error");
    }
  });
  return form;
}

export async function renderEmulator(main, _params, view) {
  replace(main,
    h("div", { class: "page-header" }, h("div", {}, h("h1", { text: "Emulator" }),
      h("p", { class: "muted", text: "The emulator's own controls: schedules, the clock, events, reset." }))),
    h("div", { class: "grid-2 align-start" },
      h("div", { class: "stack-lg" }, schedulesSection(view), clockSection(view)),
      h("div", { class: "stack-lg" }, eventSection(), resetSection())));
}
