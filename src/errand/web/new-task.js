// Starting a task: the request text is all that is needed. The folders come first (each at the
// most the computer allows it, the last choice remembered, a warning before sending with
// none); allowed websites, review and a model are optional.
// A retry of the same request (after "can't reach your computer") reuses its
// Idempotency-Key, so the computer starts it once.

import { ApiError } from "./api.js";
import { h, randomKey, replaceChildren } from "./dom.js";

/**
 * Split what the user typed into domain names: commas, spaces or new lines between them;
 * a pasted URL keeps only its host.
 * @param {string} text
 * @returns {string[]}
 */
export function parseDomains(text) {
  const out = [];
  for (const part of text.split(/[\s,]+/)) {
    if (!part) continue;
    let host = part;
    if (/^[a-z]+:\/\//i.test(part)) {
      try {
        host = new URL(part).hostname;
      } catch {
        host = part;
      }
    }
    host = host.replace(/\/.*$/, "").toLowerCase();
    if (host && !out.includes(host)) out.push(host);
  }
  return out;
}

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @returns {() => void}
 */
export function showNewTask(root, ctx) {
  let closed = false;
  let warned = false;
  /** @type {{body: string, key: string} | null} */
  let pending = null;
  const prompt = h("textarea", { id: "prompt", name: "prompt", rows: "5", required: true, placeholder: "e.g. Summarise this week's notes into a to-do list" });
  const folderBox = h("div", { class: "folders" }, h("p", { class: "hint", text: "Loading folders…" }));
  const domains = h("input", { id: "domains", name: "domains", type: "text", inputmode: "url", autocomplete: "off", autocapitalize: "none", placeholder: "example.com, docs.python.org" });
  const model = h("input", { id: "model", name: "model", type: "text", autocomplete: "off", autocapitalize: "none", placeholder: "the computer's default" });
  const review = h("input", { id: "review", name: "review", type: "checkbox" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const send = h("button", { type: "submit", class: "primary", text: "Send" });
  const form = h("form", { class: "stack" },
    h("label", { for: "prompt", text: "What should Errand do?" }),
    prompt,
    h("fieldset", {}, h("legend", { text: "Folders Errand may use" }), folderBox),
    h("details", { class: "options" },
      h("summary", { text: "Review, websites and model" }),
      h("div", { class: "folder" }, review,
        h("label", { for: "review", text: "Review changes before they reach my folders" })),
      h("label", { for: "domains", text: "Websites it may reach (optional)" }),
      domains,
      h("label", { for: "model", text: "Model (optional)" }),
      model),
    error,
    send);

  root.appendChild(h("section", { class: "screen new-task" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      h("h1", { text: "New task" })),
    form));

  // Sending waits for the folder list: a quick tap must not skip the folders or the warning.
  const loading = (async () => {
    try {
      const [folders, models] = await Promise.all([
        ctx.api.request("GET", "/folders"),
        ctx.api.request("GET", "/models").catch(() => null),
      ]);
      if (closed) return;
      if (models && typeof models.default === "string" && models.default) {
        model.setAttribute("placeholder", `default: ${models.default}`);
      }
      replaceChildren(folderBox, folders.folders.length === 0
        ? h("p", { class: "hint", text: "No folders are shared. On the computer, “errand folders add PATH” shares one." })
        : folders.folders.map((folder) => folderRow(folder, remembered())));
      folderBox.addEventListener("change", () => {
        warned = false;
        send.textContent = "Send";
      });
    } catch (err) {
      if (!closed) replaceChildren(folderBox, h("p", { class: "error", text: `Could not load the folders: ${err instanceof Error ? err.message : err}` }));
    }
  })();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = /** @type {HTMLTextAreaElement} */ (prompt).value.trim();
    if (!text) {
      error.textContent = "Write what Errand should do.";
      error.hidden = false;
      return;
    }
    await loading;
    if (closed) return;
    /** @type {Record<string, unknown>} */
    const body = { prompt: text };
    const chosen = [...folderBox.querySelectorAll("input[type=checkbox]:checked")].map((box) => {
      const name = /** @type {HTMLInputElement} */ (box).value;
      const select = /** @type {HTMLSelectElement | null} */ (folderBox.querySelector(`select[data-folder="${CSS.escape(name)}"]`));
      return { name, mode: select?.value === "rw" ? "rw" : "ro" };
    });
    if (!chosen.length && folderBox.querySelector("input[type=checkbox]") && !warned) {
      // Sending with no folder is allowed, but rarely meant: say so once.
      warned = true;
      error.textContent = "No folder is chosen, so Errand can only work in a scratch space of its own. Tap “Send without a folder” to send it anyway.";
      error.hidden = false;
      send.textContent = "Send without a folder";
      return;
    }
    if (chosen.length) body.folders = chosen;
    if (/** @type {HTMLInputElement} */ (review).checked) body.review = true;
    const allow = parseDomains(/** @type {HTMLInputElement} */ (domains).value);
    if (allow.length) body.allow_domains = allow;
    const modelName = /** @type {HTMLInputElement} */ (model).value.trim();
    if (modelName) body.model = modelName;
    const serialized = JSON.stringify(body);
    // The same request tapped again after a failure is a retry: same key, acts once.
    if (!pending || pending.body !== serialized) pending = { body: serialized, key: randomKey() };
    send.setAttribute("disabled", "");
    error.hidden = true;
    try {
      const task = await ctx.api.command("POST", "/tasks", body, { key: pending.key });
      pending = null;
      remember(chosen);
      // The sent form is replaced by its task, so Back returns to the list, not to the form.
      if (!closed) ctx.replace(`#/tasks/${encodeURIComponent(task.id)}`);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : "Can't reach your computer. Tap Send to try again.";
      error.hidden = false;
    } finally {
      send.removeAttribute("disabled");
    }
  });

  requestAnimationFrame(() => prompt.focus());
  return () => {
    closed = true;
  };
}

const LAST_FOLDERS = "errand.lastFolders";

/** @returns {Map<string, string>} the folders (and modes) of the last task sent from here */
function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(LAST_FOLDERS) || "[]");
    return new Map(Array.isArray(saved) ? saved.map((f) => [String(f.name), String(f.mode)]) : []);
  } catch {
    return new Map();
  }
}

/** @param {{name: string, mode: string}[]} chosen */
function remember(chosen) {
  try {
    localStorage.setItem(LAST_FOLDERS, JSON.stringify(chosen));
  } catch {
    // Private browsing without storage: nothing is remembered, nothing breaks.
  }
}

/**
 * A folder's row: ticked when the last task used it, at the mode it had then, else at the
 * most the computer allows.
 * @param {{name: string, mode: string}} folder
 * @param {Map<string, string>} last
 */
function folderRow(folder, last) {
  const id = `folder-${randomKey().slice(0, 8)}`;
  const mode = h("select", { "data-folder": folder.name, "aria-label": `Access to ${folder.name}` },
    h("option", { value: "ro", text: "Read-only" }),
    folder.mode === "rw" ? h("option", { value: "rw", text: "Read-write" }) : null);
  const wanted = last.get(folder.name) ?? folder.mode;
  /** @type {HTMLSelectElement} */ (mode).value = wanted === "rw" && folder.mode === "rw" ? "rw" : "ro";
  const box = h("input", { type: "checkbox", id, value: folder.name });
  if (last.has(folder.name)) /** @type {HTMLInputElement} */ (box).checked = true;
  return h("div", { class: "folder" },
    box,
    h("label", { for: id, class: "folder-name", text: folder.name }),
    mode);
}
