// Create function: ID, name, runtime (from the runtimes list), access, events, schedule, timeout.

import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { fnLink } from "./functions.js";
import { clearErrors, formError, settingsFields, showError } from "./forms.js";

export async function renderCreateFunction(main, _params, view) {
  const { runtimes } = await api.listRuntimes();
  if (!view.alive) return;
  const { elements, read } = settingsFields(null, { runtimes });
  const submit = h("button", { type: "submit", class: "button primary", text: "Create" });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": "Create function" },
    elements, formError(),
    h("div", { class: "actions" }, h("a", { class: "button secondary", href: "#/functions", text: "Cancel" }), submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      const fn = await api.createFunction(read());
      toast(`Function ${fn.name} created`, "success");
      location.hash = fnLink(fn.$id, "deployments");
    } catch (error) {
      showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  replace(main,
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" }, h("a", { href: "#/functions", text: "Functions" }), h("span", { text: "Create function" })),
    h("div", { class: "page-header" }, h("h1", { text: "Create function" })),
    form);
}
