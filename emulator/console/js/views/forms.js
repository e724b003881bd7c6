// The function settings form, shared by "Create function" and a function's Settings.

import { field, formatDate, h, showFieldError, splitList } from "../dom.js";

/**
 * The settings fields of a function (`fn`: its current document, or null for a new one).
 * Returns {elements, read()} where read() gives the API's parameters.
 */
export function settingsFields(fn, { runtimes = null } = {}) {
  const controls = {};
  const elements = [];
  if (!fn) {
    controls.functionId = h("input", { name: "functionId", autocomplete: "off", spellcheck: "false", placeholder: "unique()" });
    elements.push(field("Function ID", controls.functionId, {
      hint: "Up to 36 characters: a-z, A-Z, 0-9, period, hyphen, underscore. Empty: a unique ID.",
    }));
  }
  controls.name = h("input", { name: "name", autocomplete: "off", value: fn ? fn.name : "", required: true });
  elements.push(field("Name", controls.name));
  if (!fn) {
    controls.runtime = h("select", { name: "runtime" },
      (runtimes || []).map((r) => h("option", { value: r.$id, text: `${r.name} ${r.version} (${r.$id})` })));
    elements.push(field("Runtime", controls.runtime));
  }
  controls.execute = h("textarea", { name: "execute", rows: 2, spellcheck: "false" });
  controls.execute.value = fn ? fn.execute.join("\n") : "any";
  elements.push(field("Execute access", controls.execute, {
    hint: "Roles allowed to execute it, one per line: any, guests, users, user:[ID], team:[ID]... The API key may always execute.",
  }));
  controls.events = h("textarea", { name: "events", rows: 3, spellcheck: "false" });
  controls.events.value = fn ? fn.events.join("\n") : "";
  elements.push(field("Events", controls.events, {
    hint: "Events that run it, one per line, e.g. users.*.create or functions.*.deployments.*.update.",
  }));
  controls.schedule = h("input", { name: "schedule", autocomplete: "off", spellcheck: "false", value: fn ? fn.schedule : "", placeholder: "*/5 * * * *" });
  elements.push(field("Schedule (CRON)", controls.schedule, {
    hint: fn && fn.schedule
      ? `Five fields, in UTC. Next run: ${fn.scheduleNext ? formatDate(fn.scheduleNext) : "never"} (shown in your local time).`
      : "Five fields, in UTC, e.g. 0 * * * * for every hour. Empty: no schedule.",
  }));
  controls.timeout = h("input", { name: "timeout", type: "number", min: 1, step: 1, value: fn ? fn.timeout : 15 });
  elements.push(field("Timeout (seconds)", controls.timeout));
  if (fn) {
    controls.enabled = h("input", { name: "enabled", type: "checkbox" });
    controls.enabled.checked = fn.enabled;
    elements.push(field("Enabled", controls.enabled, {
      inline: true,
      hint: "A disabled function cannot be executed through the API (schedules and events still run it).",
    }));
  }
  const read = () => {
    const data = {};
    if (controls.functionId) data.functionId = controls.functionId.value.trim() || "unique()";
    data.name = controls.name.value;
    if (controls.runtime) data.runtime = controls.runtime.value;
    data.execute = splitList(controls.execute.value);
    data.events = splitList(controls.events.value);
    data.schedule = controls.schedule.value.trim();
    const timeout = controls.timeout.value.trim();
    data.timeout = /^-?\d+$/.test(timeout) ? Number(timeout) : timeout;
    if (controls.enabled) data.enabled = controls.enabled.checked;
    return data;
  };
  return { elements, controls, read };
}

/**
 * Show an API error on the form: next to its field when the 1.3 message names one, else above
 * the buttons. Focuses the field at fault.
 */
export function showError(form, error) {
  const general = form.querySelector(".form-error");
  const name = error.param;
  const hasField = name && form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  showFieldError(form, hasField ? name : null, error.message);
  if (general) {
    general.hidden = Boolean(hasField);
    general.textContent = hasField ? "" : error.message;
  }
  if (hasField) form.querySelector(`[name="${CSS.escape(name)}"]`)?.focus();
}

export function clearErrors(form) {
  showFieldError(form, null, "");
  const general = form.querySelector(".form-error");
  if (general) {
    general.hidden = true;
    general.textContent = "";
  }
}

export function formError() {
  return h("div", { class: "callout callout-danger form-error", role: "alert", hidden: true });
}
