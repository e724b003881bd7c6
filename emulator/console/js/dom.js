// Building the page: elements from data (never from HTML strings), formatting, dialogs, toasts.

/**
 * Create an element. `attrs`: `class`, `text`, `on<event>` handlers, booleans (set when true),
 * `dataset` (object), anything else as an attribute. Children: nodes, strings, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) el.setAttribute(name, "");
    else if (name === "value" && "value" in el) el.value = value;
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A unique element ID (labels point at their fields through it). */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

// -- formatting ----------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** An Appwrite datetime as local `YYYY-MM-DD HH:MM:SS`; "—" when empty. */
export function formatDate(value) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

export function timeTag(value) {
  return h("time", { datetime: value || null, title: value || null, text: formatDate(value) });
}

/** Seconds as "12 ms" or "1.24 s". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(2)} s`;
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatCount(n) {
  return new Intl.NumberFormat("en-US").format(n);
}

const STATUS_KIND = {
  waiting: "neutral",
  processing: "info",
  building: "info",
  completed: "success",
  ready: "success",
  failed: "danger",
  enabled: "success",
  disabled: "neutral",
};

/** A status pill: `completed`, `failed`, `ready`, ... */
export function badge(status, label) {
  const text = label || status || "none";
  return h("span", { class: `badge badge-${STATUS_KIND[status] || "neutral"}`, text });
}

/** Pretty-printed JSON when `text` is JSON, else `text` itself. */
export function prettyJson(text) {
  if (!text) return "";
  try {
    const value = JSON.parse(text);
    if (value !== null && typeof value === "object") return JSON.stringify(value, null, 2);
  } catch {
    // not JSON: shown as it is
  }
  return text;
}

// -- feedback ------------------------------------------------------------------------------------

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null },
    message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * A modal confirmation (Esc or Cancel says no). Resolves to true when confirmed.
 */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid("dialog-title");
    const cancel = h("button", { type: "button", class: "button secondary", text: "Cancel" });
    const ok = h("button", {
      type: "button",
      class: `button ${danger ? "danger" : "primary"}`,
      text: confirmLabel,
    });
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId, text: title }),
      h("p", { text: message }),
      h("div", { class: "actions" }, cancel, ok));
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    ok.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** A labelled form field: label, control, hint and a place for its error message. */
export function field(label, control, { hint = "", inline = false } = {}) {
  if (!control.id) control.id = uid("field");
  const errorId = `${control.id}-error`;
  const hintId = hint ? `${control.id}-hint` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  return h("div", { class: inline ? "field field-inline" : "field", dataset: { field: control.name || "" } },
    inline ? [control, h("label", { for: control.id, text: label })]
      : [h("label", { for: control.id, text: label }), control],
    hint ? h("p", { class: "field-hint", id: hintId, text: hint }) : null,
    error);
}

/** Show `message` next to the field named `name` in `form` (or clear every error). */
export function showFieldError(form, name, message) {
  for (const box of form.querySelectorAll(".field")) {
    const control = box.querySelector("input, select, textarea");
    const error = box.querySelector(".field-error");
    const hit = name !== null && box.dataset.field === name;
    error.hidden = !hit;
    error.textContent = hit ? message : "";
    if (control) {
      if (hit) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }
}

/** The panel that shows an error not tied to one field. */
export function errorBox(message) {
  return h("div", { class: "callout callout-danger", role: "alert", text: message });
}

export function emptyState(title, text, ...actions) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title", text: title }),
    text ? h("p", { text }) : null, actions.length ? h("div", { class: "actions" }, actions) : null);
}

/** Call `fn` at most once per `ms`, after the last call of a burst. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Lines of a textarea as a list (blank lines and surrounding spaces dropped; commas split). */
export function splitList(text) {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
