// A function's Variables: add, edit and delete the key/value pairs its code reads.

import { api } from "../api.js";
import { confirmDialog, emptyState, errorBox, field, h, replace, toast } from "../dom.js";
import { clearErrors, formError, showError } from "./forms.js";

export async function renderVariables(panel, fn, view) {
  const list = h("div", {});
  const load = async () => {
    let data;
    try {
      data = await api.listVariables(fn.$id);
    } catch (error) {
      if (view.alive) replace(list, errorBox(error.message));
      return;
    }
    if (!view.alive) return;
    if (!data.variables.length) {
      replace(list, emptyState("No variables", "Variables reach the function's code as environment variables."));
      return;
    }
    replace(list, h("div", { class: "card table-card" }, h("table", { class: "table" },
      h("caption", { class: "visually-hidden", text: "Variables" }),
      h("thead", {}, h("tr", {}, ["Key", "Value", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, data.variables.map(row)))));
  };

  const row = (v) => {
    const tr = h("tr", { dataset: { variableId: v.$id, key: v.key } });
    const showRow = () => replace(tr,
      h("th", { scope: "row" }, h("code", { text: v.key })),
      h("td", {}, h("code", { class: "value", text: v.value })),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "button secondary small", text: "Edit", "aria-label": `Edit variable ${v.key}`, onclick: edit }),
        h("button", { type: "button", class: "button ghost-danger small", text: "Delete", "aria-label": `Delete variable ${v.key}`, onclick: remove })));
    const edit = () => {
      const key = h("input", { name: "key", value: v.key, autocomplete: "off", spellcheck: "false" });
      const value = h("input", { name: "value", value: v.value, autocomplete: "off", spellcheck: "false" });
      const form = h("form", { class: "inline-form", novalidate: true, "aria-label": `Edit variable ${v.key}` },
        field("Key", key), field("Value", value), formError(),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button secondary small", text: "Cancel", onclick: () => { showRow(); tr.querySelector("button")?.focus(); } }),
          h("button", { type: "submit", class: "button primary small", text: "Save" })));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        try {
          Object.assign(v, await api.updateVariable(fn.$id, v.$id, key.value, value.value));
          toast(`Variable ${v.key} saved`, "success");
          showRow();
          tr.querySelector("button")?.focus();
        } catch (error) {
          showError(form, error);
        }
      });
      form.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          showRow();
          tr.querySelector("button")?.focus();
        }
      });
      replace(tr, h("td", { colspan: 3 }, form));
      value.focus();
    };
    const remove = async () => {
      const ok = await confirmDialog({ title: "Delete variable", message: `Delete variable ${v.key}?`, confirmLabel: "Delete", danger: true });
      if (!ok) return;
      try {
        await api.deleteVariable(fn.$id, v.$id);
        toast(`Variable ${v.key} deleted`);
        load();
      } catch (error) {
        toast(error.message, "error");
      }
    };
    showRow();
    return tr;
  };

  const key = h("input", { name: "key", autocomplete: "off", spellcheck: "false", placeholder: "API_URL" });
  const value = h("input", { name: "value", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Create variable" },
    h("h2", { text: "Create variable" }),
    h("div", { class: "grid-2" }, field("Key", key), field("Value", value)),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary", text: "Create variable" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const created = await api.createVariable(fn.$id, key.value, value.value);
      toast(`Variable ${created.key} created`, "success");
      form.reset();
      key.focus();
      load();
    } catch (error) {
      showError(form, error);
    }
  });
  replace(panel, list, form);
  view.live((message) => { if (message.resync) load(); });
  await load();
}
