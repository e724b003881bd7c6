// A function's Settings: edit and save (1.3's validation messages next to their field), delete.

import { api } from "../api.js";
import { confirmDialog, h, replace, toast } from "../dom.js";
import { clearErrors, formError, settingsFields, showError } from "./forms.js";

export async function renderSettings(panel, fn) {
  const { elements, read } = settingsFields(fn);
  const submit = h("button", { type: "submit", class: "button primary", text: "Update" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Settings" },
    h("h2", { text: "Settings" }), elements, formError(), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      const updated = await api.updateFunction(fn.$id, read());
      Object.assign(fn, updated);
      toast("Settings updated", "success");
    } catch (error) {
      showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  const remove = h("button", { type: "button", class: "button danger", text: "Delete function" });
  remove.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: "Delete function",
      message: `Delete ${fn.name} with its deployments, variables and executions? This cannot be undone.`,
      confirmLabel: "Delete", danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteFunction(fn.$id);
      toast(`Function ${fn.name} deleted`);
      location.hash = "#/functions";
    } catch (error) {
      toast(error.message, "error");
    }
  });
  replace(panel, form,
    h("section", { class: "card danger-zone", "aria-label": "Danger zone" },
      h("h2", { text: "Delete function" }),
      h("p", { class: "muted", text: "The function, its deployments, variables and executions are deleted." }),
      h("div", { class: "actions" }, remove)));
}
