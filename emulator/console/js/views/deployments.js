// A function's Deployments: upload a .tar.gz, watch builds live, activate, delete, build logs.

import { api, uploadDeployment } from "../api.js";
import {
  badge, confirmDialog, debounce, emptyState, errorBox, field, formatSize, h, replace, timeTag, toast,
} from "../dom.js";
import { concerns } from "../live.js";
import { clearErrors, formError, showError } from "./forms.js";

function logs(deployment) {
  const stdout = deployment.buildStdout || "";
  const stderr = deployment.buildStderr || "";
  if (!stdout && !stderr) return h("span", { class: "muted small", text: "no build output yet" });
  return h("details", { class: "logs" },
    h("summary", { text: "Build logs" }),
    stdout ? [h("h3", { class: "log-title", text: "stdout" }), h("pre", { class: "log", text: stdout })] : null,
    stderr ? [h("h3", { class: "log-title", text: "stderr" }), h("pre", { class: "log log-error", text: stderr })] : null);
}

function uploadForm(fn, onUploaded) {
  const file = h("input", { type: "file", name: "code", accept: ".gz,.tar.gz,application/gzip", required: true });
  const entrypoint = h("input", { name: "entrypoint", autocomplete: "off", spellcheck: "false", placeholder: "src/index.py", required: true });
  const activate = h("input", { type: "checkbox", name: "activate", checked: true });
  const progress = h("p", { class: "muted small", role: "status" });
  const submit = h("button", { type: "submit", class: "button primary", text: "Create deployment" });
  const form = h("form", { class: "card form form-row", novalidate: true, "aria-label": "Create deployment" },
    h("h2", { text: "Create deployment" }),
    h("div", { class: "grid-3" },
      field("Code archive (.tar.gz)", file),
      field("Entrypoint", entrypoint, { hint: "The file to run, relative to the archive's root." }),
      field("Activate when built", activate, { inline: true })),
    formError(),
    h("div", { class: "actions" }, progress, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const chosen = file.files[0];
    if (!chosen) {
      showError(form, { param: "code", message: "Choose a .tar.gz archive of the function's code." });
      return;
    }
    submit.disabled = true;
    progress.textContent = "Uploading…";
    try {
      const deployment = await uploadDeployment(fn.$id, chosen, entrypoint.value.trim(), activate.checked,
        (sent, total) => { progress.textContent = `Uploaded ${formatSize(sent)} of ${formatSize(total)}`; });
      progress.textContent = `Deployment ${deployment.$id} uploaded: building…`;
      form.reset();
      activate.checked = true;
      onUploaded(deployment);
    } catch (error) {
      progress.textContent = "";
      showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function renderDeployments(panel, fn, view) {
  const list = h("div", { class: "deployments" });
  let active = fn.deployment;
  const load = async () => {
    let data;
    try {
      [data, { deployment: active }] = await Promise.all([api.listDeployments(fn.$id), api.getFunction(fn.$id)]);
    } catch (error) {
      if (view.alive) replace(list, errorBox(error.message));
      return;
    }
    if (!view.alive) return;
    if (!data.deployments.length) {
      replace(list, emptyState("No deployments yet",
        "Upload a .tar.gz of the function's folder above, or deploy it with appwrite-cli."));
      return;
    }
    replace(list, h("div", { class: "card table-card" }, h("table", { class: "table" },
      h("caption", { class: "visually-hidden", text: "Deployments" }),
      h("thead", {}, h("tr", {}, ["Deployment", "Status", "Entrypoint", "Size", "Created", "Build", ""]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, data.deployments.map((d) => row(d))))));
  };
  const row = (d) => {
    const isActive = d.$id === active;
    const actions = [];
    if (d.status === "ready" && !isActive) {
      actions.push(h("button", {
        type: "button", class: "button secondary small", text: "Activate",
        "aria-label": `Activate deployment ${d.$id}`,
        onclick: async () => {
          try {
            await api.activateDeployment(fn.$id, d.$id);
            toast(`Deployment ${d.$id} is active`, "success");
            reload();
          } catch (error) {
            toast(error.message, "error");
          }
        },
      }));
    }
    if (d.status === "failed" && d.buildId) {
      actions.push(h("button", {
        type: "button", class: "button secondary small", text: "Retry build",
        "aria-label": `Retry the build of deployment ${d.$id}`,
        onclick: async () => {
          try {
            await api.retryBuild(fn.$id, d.$id, d.buildId);
            reload();
          } catch (error) {
            toast(error.message, "error");
          }
        },
      }));
    }
    actions.push(h("button", {
      type: "button", class: "button ghost-danger small", text: "Delete",
      "aria-label": `Delete deployment ${d.$id}`,
      onclick: async () => {
        const ok = await confirmDialog({
          title: "Delete deployment",
          message: `Delete deployment ${d.$id}${isActive ? ", the active one? The function will have no active deployment" : ""}?`,
          confirmLabel: "Delete", danger: true,
        });
        if (!ok) return;
        try {
          await api.deleteDeployment(fn.$id, d.$id);
          toast(`Deployment ${d.$id} deleted`);
          reload();
        } catch (error) {
          toast(error.message, "error");
        }
      },
    }));
    return h("tr", { dataset: { deploymentId: d.$id, status: d.status } },
      h("th", { scope: "row" }, h("code", { text: d.$id }), isActive ? [" ", h("span", { class: "badge badge-accent", text: "Active" })] : null),
      h("td", { class: "cell-status" }, badge(d.status)),
      h("td", {}, h("code", { text: d.entrypoint })),
      h("td", { text: formatSize(d.size) }),
      h("td", {}, timeTag(d.$createdAt)),
      h("td", {}, logs(d)),
      h("td", { class: "row-actions" }, actions));
  };
  const reload = debounce(load, 100);
  view.cleanup(reload.cancel);
  view.live((message) => {
    if (message.resync || concerns(message, fn.$id, "deployments.") ||
      (message.events || []).includes(`functions.${fn.$id}.update`)) reload();
  });
  replace(panel, uploadForm(fn, () => reload()), list);
  await load();
}
