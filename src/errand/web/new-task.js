// Starting a task: the request text is all that is needed. The folders come first (each at the
// most the computer allows it, the last choice remembered, a warning before sending with
// none); allowed websites, review and a model are optional. The model is picked among the
// computer's configured models (GET /models), its default preselected; `model` is sent only
// when another one is picked.
// A photo or file may be attached: it is sent first into the chosen read-write folder
// (POST /folders/{name}/files, which names it safely), that folder is given to the task
// read-write, and the request tells Errand the file's name and folder.
// A retry of the same request (after "can't reach your computer") reuses its
// Idempotency-Key, so the computer starts it once; a file already sent is not sent again.

import { ApiError, Unreachable } from "./api.js";
import { h, randomKey, replaceChildren } from "./dom.js";

const UNREACHABLE = "Can't reach your computer.";

/** The computer's limit for a file from a phone (errand.access.MAX_UPLOAD_BYTES). */
const MAX_FILE_BYTES = 25 * 1024 * 1024;

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
  const model = /** @type {HTMLSelectElement} */ (h("select", { id: "model", name: "model" },
    h("option", { value: "", text: "The computer's default" })));
  /** the computer's default model, which is not sent by name */
  let defaultModel = "";
  const review = h("input", { id: "review", name: "review", type: "checkbox" });
  const attach = /** @type {HTMLInputElement} */ (h("input", { id: "attach", name: "attach", type: "file" }));
  const attachFolder = /** @type {HTMLSelectElement} */ (h("select", { id: "attach-folder", name: "attach-folder" }));
  const attachBox = h("fieldset", { class: "attach", hidden: true },
    h("legend", { text: "Attach a photo or file (optional)" }),
    h("label", { for: "attach", class: "visually-hidden", text: "Photo or file to attach" }),
    attach,
    h("label", { for: "attach-folder", text: "Save it in" }),
    attachFolder);
  /** @type {{file: File, folder: string, key: string, saved: {folder: string, name: string} | null} | null} */
  let upload = null;
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const send = h("button", { type: "submit", class: "primary", text: "Send" });
  const form = h("form", { class: "stack" },
    h("label", { for: "prompt", text: "What should Errand do?" }),
    prompt,
    h("fieldset", {}, h("legend", { text: "Folders Errand may use" }), folderBox),
    attachBox,
    h("details", { class: "options" },
      h("summary", { text: "Review, websites and model" }),
      h("div", { class: "folder" }, review,
        h("label", { for: "review", text: "Review changes before they reach my folders" })),
      h("label", { for: "domains", text: "Websites it may reach (optional)" }),
      domains,
      h("label", { for: "model", text: "Model" }),
      model),
    error,
    send);

  root.appendChild(h("section", { class: "screen new-task" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      h("h1", { text: "New task" })),
    form));

  /** the folder list failed for want of the computer: load it again when it is back */
  let reloadFolders = false;
  const loadFolders = async () => {
    reloadFolders = false;
    try {
      const [folders, models] = await Promise.all([
        ctx.api.request("GET", "/folders"),
        ctx.api.request("GET", "/models").catch(() => null),
      ]);
      if (closed) return;
      if (models) showModels(model, models);
      defaultModel = typeof models?.default === "string" ? models.default : "";
      const writable = folders.folders.filter((/** @type {any} */ f) => f.mode === "rw");
      replaceChildren(attachFolder, writable.map((/** @type {any} */ f) => h("option", { value: f.name, text: f.name })));
      const lastUsed = writable.find((/** @type {any} */ f) => remembered().get(f.name) === "rw");
      if (lastUsed) attachFolder.value = lastUsed.name;
      attachBox.hidden = writable.length === 0;
      replaceChildren(folderBox, folders.folders.length === 0
        ? h("p", { class: "hint", text: "No folders are shared. On the computer, “errand folders add PATH” shares one." })
        : folders.folders.map((folder) => folderRow(folder, remembered())));
    } catch (err) {
      reloadFolders = err instanceof Unreachable;
      if (!closed) replaceChildren(folderBox, h("p", { class: "error", text: `Could not load the folders: ${err instanceof Error ? err.message : err}` }));
    }
  };
  // Sending waits for the folder list: a quick tap must not skip the folders or the warning.
  let loading = loadFolders();

  // A file goes into its folder: that folder is ticked, read-write, for all to see.
  const tickAttachFolder = () => {
    if (!attach.files?.length || !attachFolder.value) return;
    const name = CSS.escape(attachFolder.value);
    const box = /** @type {HTMLInputElement | null} */ (folderBox.querySelector(`input[type=checkbox][value="${name}"]`));
    const mode = /** @type {HTMLSelectElement | null} */ (folderBox.querySelector(`select[data-folder="${name}"]`));
    if (box) box.checked = true;
    if (mode) mode.value = "rw";
  };
  attach.addEventListener("change", tickAttachFolder);
  attachFolder.addEventListener("change", tickAttachFolder);
  folderBox.addEventListener("change", () => {
    warned = false;
    send.textContent = "Send";
    // Until a file is chosen, it would go to the first folder ticked read-write.
    if (attach.files?.length) return;
    const ticked = [...folderBox.querySelectorAll("input[type=checkbox]:checked")]
      .map((box) => /** @type {HTMLInputElement} */ (box).value)
      .find((name) => /** @type {HTMLSelectElement | null} */ (folderBox.querySelector(`select[data-folder="${CSS.escape(name)}"]`))?.value === "rw");
    if (ticked && [...attachFolder.options].some((option) => option.value === ticked)) attachFolder.value = ticked;
  });

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
    const file = attach.files?.[0] ?? null;
    if (file && file.size > MAX_FILE_BYTES) {
      // Said before sending: a refusal mid-upload reaches a phone as a broken connection.
      error.textContent = "The file is larger than 25 MB, the most Errand takes from a phone; copy it into the folder on the computer instead.";
      error.hidden = false;
      return;
    }
    if (file) {
      // The file goes into its folder, so the task gets that folder read-write.
      const target = attachFolder.value;
      const given = chosen.find((f) => f.name === target);
      if (given) given.mode = "rw";
      else chosen.push({ name: target, mode: "rw" });
      if (!upload || upload.file !== file || upload.folder !== target) upload = { file, folder: target, key: randomKey(), saved: null };
    } else {
      upload = null;
    }
    if (chosen.length) body.folders = chosen;
    if (/** @type {HTMLInputElement} */ (review).checked) body.review = true;
    const allow = parseDomains(/** @type {HTMLInputElement} */ (domains).value);
    if (allow.length) body.allow_domains = allow;
    if (model.value && model.value !== defaultModel) body.model = model.value;
    if (!ctx.connection.reachable) {
      // Known away (the phone is offline): say so now rather than after the retries.
      error.textContent = `${UNREACHABLE} Tap Send to try again.`;
      error.hidden = false;
      return;
    }
    send.setAttribute("disabled", "");
    error.hidden = true;
    try {
      if (upload && !upload.saved) {
        send.textContent = "Sending the file…";
        upload.saved = await ctx.api.command("POST", `/folders/${encodeURIComponent(upload.folder)}/files?name=${encodeURIComponent(upload.file.name)}`, undefined, { key: upload.key, file: upload.file });
      }
      if (upload?.saved) body.prompt = `${text}\n\n${attachedNote(upload.saved)}`;
      const serialized = JSON.stringify(body);
      // The same request tapped again after a failure is a retry: same key, acts once.
      if (!pending || pending.body !== serialized) pending = { body: serialized, key: randomKey() };
      const task = await ctx.api.command("POST", "/tasks", body, { key: pending.key });
      pending = null;
      remember(chosen);
      // The sent form is replaced by its task, so Back returns to the list, not to the form.
      if (!closed) ctx.replace(`#/tasks/${encodeURIComponent(task.id)}`);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : `${UNREACHABLE} Tap Send to try again.`;
      error.hidden = false;
    } finally {
      send.removeAttribute("disabled");
      if (send.textContent === "Sending the file…") send.textContent = "Send";
    }
  });

  // "Can't reach your computer" is stale once it answers again.
  const onConnection = () => {
    if (!ctx.connection.reachable) return;
    if (error.textContent?.startsWith(UNREACHABLE)) error.hidden = true;
    if (reloadFolders) loading = loadFolders();
  };
  ctx.connection.addEventListener("change", onConnection);

  requestAnimationFrame(() => prompt.focus());
  return () => {
    closed = true;
    ctx.connection.removeEventListener("change", onConnection);
  };
}

/**
 * What the task is told about the file sent with it.
 * @param {{folder: string, name: string}} saved  the answer of POST /folders/{name}/files
 */
export function attachedNote(saved) {
  return `I attached a file from my phone: “${saved.name}”, saved at the top of the folder ${saved.folder}.`;
}

/**
 * Fill the picker with the configured models, the default first and chosen.
 * @param {HTMLSelectElement} select
 * @param {{default?: unknown, models?: unknown}} answer  GET /models
 */
function showModels(select, answer) {
  const fallback = typeof answer.default === "string" ? answer.default : "";
  const names = Array.isArray(answer.models) ? answer.models.map(String) : [];
  if (fallback && !names.includes(fallback)) names.unshift(fallback);
  if (!names.length) return; // no default either: the computer says so when the task starts
  replaceChildren(select, names.map((name) =>
    h("option", { value: name, text: name === fallback ? `${modelLabel(name)} (default)` : modelLabel(name) })));
  select.value = fallback || names[0];
}

/**
 * A model's name as people read it: a scripted model by its file name, not its whole path.
 * @param {string} name
 */
function modelLabel(name) {
  return name.startsWith("script:") ? `script: ${name.slice(name.lastIndexOf("/") + 1)}` : name;
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
