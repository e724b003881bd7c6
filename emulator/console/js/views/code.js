// A project-mode function's Code: open a file of its folder, edit, save. The save writes the file
// on disk, so hot reload deploys it as after an editor's save; the deployment shows here live.

import { api } from "../api.js";
import { badge, errorBox, field, formatSize, h, replace, toast } from "../dom.js";
import { concerns } from "../live.js";

export async function renderCode(panel, fn, view) {
  const files = h("ul", { class: "file-list", "aria-label": "Files" });
  const editorBox = h("div", { class: "editor-box" });
  const deployState = h("p", { class: "deploy-state", role: "status" });
  const [{ files: list }, active] = await Promise.all([
    api.listFiles(fn.$id),
    fn.deployment ? api.getDeployment(fn.$id, fn.deployment).catch(() => null) : null,
  ]);
  if (!view.alive) return;
  let openPath = null;
  let savedAt = null; // the save whose deployment we are waiting for

  const showDeployment = (deployment, activeNow) => {
    if (!deployment) return;
    replace(deployState, "Deployment ", h("code", { text: deployment.$id }), " ", badge(deployment.status),
      activeNow ? [" ", h("span", { class: "badge badge-accent", text: "Active" })] : null);
  };
  showDeployment(active, true);

  const open = async (path, button) => {
    let file;
    try {
      file = await api.readFile(fn.$id, path);
    } catch (error) {
      replace(editorBox, errorBox(error.message));
      return;
    }
    if (!view.alive) return;
    openPath = path;
    for (const b of files.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
    const editor = h("textarea", { name: "content", class: "code-editor", spellcheck: "false", rows: 24, wrap: "off" });
    editor.value = file.content;
    const save = h("button", { type: "submit", class: "button primary", text: "Save" });
    const note = h("span", { class: "muted small", role: "status" });
    const form = h("form", { class: "card form editor-form", novalidate: true, "aria-label": `Edit ${path}` },
      field(`Contents of ${path}`, editor, { hint: "Ctrl+S saves. Saving writes the file in the function's folder; hot reload deploys it." }),
      h("div", { class: "actions" }, note, save));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await api.writeFile(fn.$id, path, editor.value);
        savedAt = Date.now();
        note.textContent = `Saved ${path}: deploying…`;
        toast(`Saved ${path}`, "success");
      } catch (error) {
        note.textContent = "";
        toast(error.message, "error");
      } finally {
        save.disabled = false;
      }
    });
    editor.addEventListener("keydown", (event) => {
      if (event.key === "s" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    replace(editorBox, form);
  };

  if (!list.length) {
    replace(panel, errorBox("The function's folder holds no files."));
    return;
  }
  replace(files, list.map((f) => {
    const button = h("button", { type: "button", class: "file", "aria-pressed": "false" },
      h("span", { class: "file-name", text: f.path }), h("span", { class: "muted small", text: formatSize(f.size) }));
    button.addEventListener("click", () => open(f.path, button));
    return h("li", {}, button);
  }));
  replace(panel, h("div", { class: "code-layout" },
    h("nav", { class: "card file-nav", "aria-label": "Folder" }, h("h2", { text: "Files" }), files),
    h("div", {}, deployState, editorBox)));

  view.live((message) => {
    if (!concerns(message, fn.$id)) return;
    const payload = message.payload || {};
    if (payload.resourceId === fn.$id && payload.$id) {
      // A deployment of this function changed (a reload after a save, its build finishing).
      showDeployment(payload, false);
    } else if (payload.$id === fn.$id && payload.deployment) {
      api.getDeployment(fn.$id, payload.deployment).then((d) => {
        if (!view.alive) return;
        showDeployment(d, true);
        if (savedAt && d.status === "ready") {
          const note = editorBox.querySelector(".actions [role=status]");
          if (note) note.textContent = `Saved ${openPath}: deployment ${d.$id} is active.`;
          savedAt = null;
        }
      }).catch(() => {});
    }
  });

  // Open the entrypoint first, as an editor would.
  const entry = active ? list.find((f) => f.path === active.entrypoint) : null;
  const first = entry || list[0];
  const button = [...files.querySelectorAll("button")].find((b) => b.querySelector(".file-name").textContent === first.path);
  await open(first.path, button);
}
