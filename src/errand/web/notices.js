// While the app is open and in front: tell the computer so (it then sends this phone no
// push), and show the news a push would have brought as a toast instead.
//
// Contract: PUT /push/presence {"visible"} when the page becomes visible or hidden and every
// 25 s while visible (the computer forgets a claim after 45 s). The toast comes from the task
// list stream (GET /events): a task turning waiting, completed or failed after the stream's
// opening list (which ends with `event: listed`), unless that task is the one on screen.
// `body[data-notices="live"]` marks that the toasts are live.

import { session } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { LiveStream } from "./stream.js";

const PRESENCE_EVERY_MS = 25_000;
const TOAST_MS = 8_000;
/** @type {Record<string, string>} */
const TOLD = { waiting: "Needs you", completed: "Finished", failed: "Failed" };

/** @param {import("./app.js").AppContext} ctx */
export function startNotices(ctx) {
  /** @type {Map<string, string>} */
  const statuses = new Map();
  /** @type {LiveStream | null} */
  let stream = null;
  let ticker = 0;
  const toast = h("div", { class: "toast", role: "status", "aria-live": "polite", hidden: true });
  document.body.appendChild(toast);
  let hideTimer = 0;
  let primed = false;

  const tellComputer = (/** @type {boolean} */ visible) => {
    if (!session.token()) return;
    ctx.api.request("PUT", "/push/presence", { body: { visible } }).catch(() => {
      // Unreachable or refused: the computer then errs toward sending a push.
    });
  };

  /** @param {any} task */
  const show = (task) => {
    const heading = TOLD[String(task.status)];
    const open = `#/tasks/${encodeURIComponent(task.id)}`;
    replaceChildren(toast, h("a", { href: open, class: "toast-link", onclick: () => { toast.hidden = true; } },
      h("strong", { text: `${heading}: ` }), h("span", { text: String(task.title || "a task") })));
    toast.dataset.kind = String(task.status);
    toast.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = window.setTimeout(() => { toast.hidden = true; }, TOAST_MS);
  };

  const listen = () => {
    if (stream || !session.token()) return;
    stream = new LiveStream(ctx.api, "/events", {
      onOpen: () => {
        // The stream opens with the newest tasks as they are: news only after that list.
        primed = false;
      },
      onEvent: (event) => {
        if (event.event === "listed") {
          primed = true;
          document.body.dataset.notices = "live";
          return;
        }
        if (event.event !== "task") return;
        let task;
        try {
          task = JSON.parse(event.data);
        } catch {
          return;
        }
        if (!task || typeof task.id !== "string") return;
        const before = statuses.get(task.id);
        statuses.set(task.id, String(task.status));
        if (before === task.status || !(task.status in TOLD)) return;
        if (before === undefined && !primed) return;
        if (location.hash === `#/tasks/${task.id}`) return;
        show(task);
      },
      onEnd: () => false,
      resume: false,
    });
    stream.start();
  };

  const update = () => {
    const visible = document.visibilityState === "visible";
    clearInterval(ticker);
    tellComputer(visible);
    if (visible) {
      ticker = window.setInterval(() => tellComputer(true), PRESENCE_EVERY_MS);
      listen();
    } else {
      stream?.stop();
      stream = null;
      primed = false;
      delete document.body.dataset.notices;
      statuses.clear(); // what changes while hidden comes as a push, not as a toast later
    }
  };
  document.addEventListener("visibilitychange", update);
  window.addEventListener("pagehide", () => tellComputer(false));
  update();
  return { restart: update };
}
