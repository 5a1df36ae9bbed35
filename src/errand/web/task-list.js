// The task list: newest first, tasks waiting for the user on top, kept current by the
// all-tasks stream (GET /events, one `task` event per change carrying the task object).
// On every (re)connection the list is fetched again, so changes missed while away show up;
// what the stream brings while that page is read is newer than the page, and is kept.
// The list last seen is kept on the phone (offline.js) and shown at once, so it stays
// readable while the computer cannot be reached; a line says when it is that copy.

import { h, replaceChildren } from "./dom.js";
import { keep, recall } from "./offline.js";
import { LiveStream } from "./stream.js";

const KEPT_LIST = "tasks";

/** @type {Record<string, string>} */
export const STATUS_LABELS = {
  queued: "Queued",
  running: "Running",
  waiting: "Waiting for you",
  completed: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

export const FINAL_STATUSES = new Set(["completed", "failed", "cancelled", "interrupted"]);

/**
 * The later of two copies of a task: every change to a task adds to its log.
 * @param {any} known
 * @param {any} incoming
 */
function newer(known, incoming) {
  return known && known.last_seq > incoming.last_seq ? known : incoming;
}

/** @param {string} status */
export function statusBadge(status) {
  return h("span", { class: `badge status-${status.replace(/[^a-z]/g, "")}`, text: STATUS_LABELS[status] ?? status });
}

/** @param {string | null | undefined} iso */
export function shortTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay
    ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleDateString([], { month: "short", day: "numeric" });
}

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @returns {() => void}
 */
export function showTaskList(root, ctx) {
  /** @type {Map<string, any>} */
  const tasks = new Map();
  /** @type {string | null} */
  let nextBefore = null;
  const waitingList = h("ul", { class: "tasks", "aria-label": "Tasks waiting for you" });
  const waitingSection = h("section", { class: "needs-you", hidden: true },
    h("h2", { text: "Needs you" }), waitingList);
  const list = h("ul", { class: "tasks", "aria-label": "Tasks" });
  const empty = h("p", { class: "hint empty", hidden: true, text: "No tasks yet. Tap “New task” to send Errand on an errand." });
  const more = h("button", { type: "button", class: "secondary", hidden: true, text: "Show older tasks", onclick: () => void load(true) });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const keptNote = h("p", { class: "hint kept", hidden: true, text: "Shown as this phone last saw them." });
  /** whether the computer's own list has come (then the kept copy is never shown again) */
  let fresh = false;
  /** ids of the tasks the stream has brought: a page read meanwhile may hold older copies */
  const streamed = new Set();
  let closed = false;
  let saveTimer = 0;

  root.appendChild(h("section", { class: "screen task-list" },
    h("header", { class: "bar" },
      h("h1", { text: "Errand" }),
      h("a", { class: "icon-button", href: "#/schedules", "aria-label": "Schedules", title: "Schedules", text: "⏰" }),
      h("a", { class: "icon-button", href: "#/device", "aria-label": "This device", title: "This device", text: "⚙" })),
    error,
    keptNote,
    waitingSection,
    h("section", { "aria-labelledby": "all-tasks" }, h("h2", { id: "all-tasks", text: "Tasks" }), list, empty, more),
    h("nav", { class: "actions" },
      h("a", { class: "button primary", href: "#/new", text: "New task" }))));

  const render = () => {
    const sorted = [...tasks.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const waiting = sorted.filter((t) => t.status === "waiting" || t.pending_approvals > 0 || t.pending_questions > 0);
    replaceChildren(waitingList, waiting.map(row));
    waitingSection.hidden = waiting.length === 0;
    // A waiting task shows once, on top; the rest follow newest first.
    replaceChildren(list, sorted.filter((t) => !waiting.includes(t)).map(row));
    empty.hidden = sorted.length > 0;
    more.hidden = nextBefore === null;
    keptNote.hidden = fresh || sorted.length === 0;
    if (fresh) {
      // Kept for reading offline, a moment after the last change.
      clearTimeout(saveTimer);
      saveTimer = window.setTimeout(() => void keep(KEPT_LIST, sorted.slice(0, 100)), 300);
    }
  };

  void recall(KEPT_LIST).then((kept) => {
    if (closed || fresh || !Array.isArray(kept)) return;
    for (const task of kept) if (task && typeof task.id === "string") tasks.set(task.id, task);
    render();
  });

  /** @param {boolean} older */
  async function load(older) {
    try {
      const query = older && nextBefore ? `?limit=30&before=${encodeURIComponent(nextBefore)}` : "?limit=30";
      const page = await ctx.api.request("GET", `/tasks${query}`);
      if (older) {
        for (const task of page.tasks) tasks.set(task.id, newer(tasks.get(task.id), task));
      } else {
        // The page replaces what was shown, except what the stream brought while it was
        // read: newer copies of its tasks, and tasks created since.
        const shown = new Map(tasks);
        tasks.clear();
        const newest = page.tasks.length > 0 ? page.tasks[0].id : "";
        for (const id of streamed) {
          if (id > newest && shown.has(id)) tasks.set(id, shown.get(id));
        }
        for (const task of page.tasks) {
          tasks.set(task.id, newer(streamed.has(task.id) ? shown.get(task.id) : undefined, task));
        }
      }
      nextBefore = page.next_before ?? null;
      error.hidden = true;
      fresh = true;
      render();
    } catch (err) {
      if (err instanceof Error && !(err.name === "AbortError")) {
        error.textContent = `Could not load the tasks: ${err.message}`;
        error.hidden = false;
      }
    }
  }

  const stream = new LiveStream(ctx.api, "/events", {
    onOpen: () => void load(false),
    onEvent: (event) => {
      if (event.event !== "task") return;
      try {
        const task = JSON.parse(event.data);
        if (task && typeof task.id === "string") {
          streamed.add(task.id);
          const known = tasks.get(task.id);
          if (newer(known, task) === known) return; // the list already shows a later copy
          tasks.set(task.id, { ...(known ?? {}), ...task });
          render();
        }
      } catch {
        // A malformed event changes nothing; the next reload corrects the list.
      }
    },
    onEnd: () => false,
    resume: false,
  });
  stream.start();
  return () => {
    closed = true;
    stream.stop();
  };
}

/**
 * What went wrong on the way, even in a completed task ("2 steps failed · 1 approval expired").
 * @param {any} task
 * @returns {string}
 */
export function attentionLine(task) {
  const said = Array.isArray(task?.attention) ? task.attention.map(String) : [];
  return said.join(" · ");
}

/** @param {any} task */
function row(task) {
  const waiting = task.status === "waiting" || task.pending_approvals > 0 || task.pending_questions > 0;
  const title = String(task.title || task.prompt || "Untitled task");
  const trouble = FINAL_STATUSES.has(String(task.status)) ? attentionLine(task)
    : task.status === "queued" && task.waiting_for ? String(task.waiting_for) : "";
  return h("li", { class: waiting ? "task waiting" : "task" },
    h("a", { href: `#/tasks/${encodeURIComponent(task.id)}`, class: "task-link" },
      h("span", { class: "task-title", text: title }),
      trouble ? h("span", { class: "attention", text: `⚠ ${trouble}` }) : null,
      h("span", { class: "task-meta" }, statusBadge(String(task.status)), h("time", { text: shortTime(task.created_at) }))));
}
