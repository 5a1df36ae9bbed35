// What a task produced: the list of files it wrote and a viewer for each, then every change
// it made to your folders (diffs for text, Undo, and Apply / Discard for held changes).
//
// Files are fetched with the device token into Blobs (no token in any URL). Text shows as
// text, images as <img> from a Blob URL, and HTML only inside an <iframe sandbox=""> with
// neither allow-scripts nor allow-same-origin, so an artifact's scripts never run and it can
// never reach the app's storage. Every file can be downloaded. Blob URLs are revoked when
// the viewer closes.

import { h, replaceChildren } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const MAX_INLINE_TEXT = 512 * 1024;

const IMAGE_TYPES = /** @type {Record<string, string>} */ ({
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", svg: "image/svg+xml",
});
const TEXT_EXTENSIONS = new Set([
  "txt", "md", "markdown", "csv", "tsv", "json", "log", "py", "js", "ts", "css", "toml", "yaml", "yml",
  "ini", "cfg", "sh", "xml", "rst", "sql", "go", "rs", "java", "c", "h", "cpp", "rb", "tex",
]);

/**
 * How a file opens, from its name: "html", "image", "text" or "download".
 * @param {string} name
 */
export function viewKind(name) {
  const ext = name.includes(".") ? name.split(".").pop()?.toLowerCase() ?? "" : "";
  if (ext === "html" || ext === "htm") return "html";
  if (ext in IMAGE_TYPES) return "image";
  if (TEXT_EXTENSIONS.has(ext) || !name.includes(".")) return "text";
  return "download";
}

/**
 * @param {HTMLElement} box
 * @param {import("./app.js").AppContext} ctx
 * @param {string} taskId
 * @returns {() => void}
 */
export function showFiles(box, ctx, taskId) {
  const base = `/tasks/${encodeURIComponent(taskId)}`;
  /** @type {string[]} */
  const urls = [];
  let closed = false;
  const viewer = h("div", { class: "viewer" });
  const list = h("ul", { class: "file-list" });
  replaceChildren(box, h("h2", { text: "Files" }), h("p", { class: "hint", text: "Loading…" }));

  /** @param {string} path */
  const fetchBlob = async (path, type = "") => {
    const response = await ctx.api.fetch("GET", `${base}/files/content?path=${encodeURIComponent(path)}`, { headers: { Accept: "*/*" } });
    const bytes = await response.arrayBuffer();
    return new Blob([bytes], { type });
  };

  /** @param {Blob} blob */
  const urlOf = (blob) => {
    const url = URL.createObjectURL(blob);
    urls.push(url);
    return url;
  };

  /** @param {{path: string, name: string, size: number}} file */
  const open = async (file) => {
    const kind = viewKind(file.name);
    replaceChildren(viewer, h("p", { class: "hint", text: `Opening ${file.name}…` }));
    try {
      if (kind === "html") {
        const url = urlOf(await fetchBlob(file.path, "text/html"));
        // sandbox="" : no scripts, an opaque origin, no forms, no popups, no top navigation.
        const frame = h("iframe", { sandbox: "", src: url, title: `${file.name} (scripts off)`, class: "artifact", referrerpolicy: "no-referrer" });
        replaceChildren(viewer, h("h3", { text: file.name }), frame);
      } else if (kind === "image") {
        const ext = file.name.split(".").pop()?.toLowerCase() ?? "";
        const url = urlOf(await fetchBlob(file.path, IMAGE_TYPES[ext]));
        replaceChildren(viewer, h("h3", { text: file.name }), h("img", { src: url, alt: file.name, class: "artifact-image" }));
      } else if (kind === "text" && /\.(md|markdown)$/i.test(file.name)) {
        // Markdown opens rendered, through the same sanitising renderer as agent messages.
        const blob = await fetchBlob(file.path, "text/plain");
        const text = await blob.slice(0, MAX_INLINE_TEXT).text();
        replaceChildren(viewer, h("h3", { text: file.name }), h("div", { class: "markdown file-markdown" }, renderMarkdown(text)),
          blob.size > MAX_INLINE_TEXT ? h("p", { class: "hint", text: "Only the beginning is shown; download the file for all of it." }) : null);
      } else if (kind === "text") {
        const blob = await fetchBlob(file.path, "text/plain");
        const text = await blob.slice(0, MAX_INLINE_TEXT).text();
        replaceChildren(viewer, h("h3", { text: file.name }), h("pre", { class: "file-text", text }),
          blob.size > MAX_INLINE_TEXT ? h("p", { class: "hint", text: "Only the beginning is shown; download the file for all of it." }) : null);
      } else {
        await download(file);
        replaceChildren(viewer);
      }
    } catch (err) {
      replaceChildren(viewer, h("p", { class: "error", role: "alert", text: `Could not open ${file.name}: ${err instanceof Error ? err.message : err}` }));
    }
  };

  /** @param {{path: string, name: string}} file */
  const download = async (file) => {
    const url = urlOf(await fetchBlob(file.path, "application/octet-stream"));
    const link = h("a", { href: url, download: file.name, class: "visually-hidden", text: file.name });
    document.body.appendChild(link);
    link.click();
    link.remove();
  };

  const changesBox = h("section", { class: "changes" });

  /**
   * @param {string} label
   * @param {string} path
   * @param {unknown} body
   */
  const act = (label, path, body, name = label) => h("button", { type: "button", class: "secondary small", text: label, "aria-label": name,
    onclick: async () => {
      try {
        await ctx.api.command("POST", `${base}${path}`, body);
      } catch (err) {
        changesBox.appendChild(h("p", { class: "error", role: "alert", text: `${label} failed: ${err instanceof Error ? err.message : err}` }));
        return;
      }
      await loadChanges();
    } });

  const loadChanges = async () => {
    try {
      const answer = await ctx.api.request("GET", `${base}/changes`);
      if (closed) return;
      /** @type {{folder: string, path: string, kind: string, status: string, is_dir: boolean, size_before: number | null, size_after: number | null, diff: string | null, reason: string | null, undo: boolean}[]} */
      const changes = answer.changes;
      if (!changes.length) {
        replaceChildren(changesBox, h("h2", { text: "Changes" }), h("p", { class: "hint", text: "This task has not changed any files in your folders." }));
        return;
      }
      const held = changes.some((c) => c.status === "held");
      const applied = changes.some((c) => c.status === "applied");
      const items = changes.map((c) => {
        const sizes = c.size_before === null && c.size_after === null ? "" : ` · ${c.size_before === null ? "–" : formatSize(c.size_before)} → ${c.size_after === null ? "–" : formatSize(c.size_after)}`;
        const note = `${c.kind}${c.undo ? " by undo" : ""} · ${c.status}${sizes}${c.reason ? ` · ${c.reason}` : ""}`;
        const where = `${c.folder}/${c.path}`;
        return h("li", { class: `change change-${c.status}` },
          h("span", { class: "file-name", text: `${where}${c.is_dir ? "/" : ""}` }),
          h("span", { class: "hint", text: note }),
          c.diff ? h("details", {}, h("summary", { text: "Diff" }), h("pre", { class: "file-text diff", text: c.diff })) : null,
          c.status === "held" ? h("div", { class: "change-actions" },
            act("Apply", "/changes/apply", { paths: [where] }, `Apply ${where}`),
            act("Discard", "/changes/discard", { paths: [where] }, `Discard ${where}`)) : null);
      });
      replaceChildren(changesBox, h("h2", { text: "Changes" }),
        h("ul", { class: "change-list" }, items),
        h("div", { class: "change-actions" },
          held ? act("Apply all", "/changes/apply", {}) : null,
          held ? act("Discard all", "/changes/discard", {}) : null,
          applied || changes.some((c) => c.status === "undone") ? act("Undo", "/undo", {}) : null));
    } catch (err) {
      if (!closed) replaceChildren(changesBox, h("h2", { text: "Changes" }), h("p", { class: "error", text: `Could not list the changes: ${err instanceof Error ? err.message : err}` }));
    }
  };

  void (async () => {
    try {
      const answer = await ctx.api.request("GET", `${base}/files`);
      if (closed) return;
      /** @type {{path: string, name: string, size: number, folder: string}[]} */
      const files = answer.files;
      replaceChildren(list, files.map((file) => h("li", { class: "file" },
        h("button", { type: "button", class: "file-open", "aria-label": `Open ${file.name}`, onclick: () => void open(file) },
          h("span", { class: "file-name", text: file.name }),
          h("span", { class: "hint", text: `${file.folder} · ${formatSize(file.size)}` })),
        h("button", { type: "button", class: "secondary small", "aria-label": `Download ${file.name}`, text: "Download", onclick: () => void download(file) }))));
      replaceChildren(box, h("h2", { text: "Files" }),
        files.length ? list : h("p", { class: "hint", text: "This task has not written any files." }), viewer,
        changesBox);
      void loadChanges();
    } catch (err) {
      if (!closed) replaceChildren(box, h("h2", { text: "Files" }), h("p", { class: "error", text: `Could not list the files: ${err instanceof Error ? err.message : err}` }));
    }
  })();

  return () => {
    closed = true;
    for (const url of urls) URL.revokeObjectURL(url);
    replaceChildren(box);
  };
}

/** @param {number} size */
function formatSize(size) {
  if (!Number.isFinite(size)) return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}
