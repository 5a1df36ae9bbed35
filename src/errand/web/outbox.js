// Messages typed while the computer cannot be reached: kept on the phone, shown as queued,
// and sent when the computer is back.
//
// Contract: each queued message keeps the Idempotency-Key of its first attempt, so however
// often it is sent again (a lost answer, a reload, two tabs) the task gets it once. The queue
// lives in localStorage (cleared with the device's session). `flush()` runs whenever the
// connection comes back and when the app starts; it sends in the order typed and stops at
// the first that cannot reach the computer. A message the computer refuses (the task is
// gone, say) leaves the queue. Listeners get `sent` {key, taskId, task} and `failed`
// {key, taskId, message} events (CustomEvent detail).

import { ApiError, Unreachable } from "./api.js";

const QUEUE_KEY = "errand.outbox";

/** @typedef {{taskId: string, text: string, key: string}} Queued */

export class Outbox extends EventTarget {
  /** @param {import("./api.js").Api} api */
  constructor(api) {
    super();
    this.api = api;
    this.flushing = false;
    api.connection.addEventListener("change", () => {
      if (api.connection.reachable) void this.flush();
    });
  }

  /** @returns {Queued[]} */
  all() {
    try {
      const saved = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
      return Array.isArray(saved) ? saved.filter((item) => item && typeof item.key === "string") : [];
    } catch {
      return [];
    }
  }

  /** @param {string} taskId */
  queuedFor(taskId) {
    return this.all().filter((item) => item.taskId === taskId);
  }

  /** @param {Queued} item */
  add(item) {
    this.save([...this.all().filter((other) => other.key !== item.key), item]);
  }

  /** @param {Queued[]} items */
  save(items) {
    try {
      localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
    } catch {
      // Storage full or off: the message stays on screen as queued until the page closes.
    }
  }

  /** @param {string} key */
  remove(key) {
    this.save(this.all().filter((item) => item.key !== key));
  }

  /** Send what waits, oldest first; stop at the first that cannot reach the computer. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const item of this.all()) {
        try {
          const task = await this.api.command("POST", `/tasks/${encodeURIComponent(item.taskId)}/messages`, { text: item.text }, { key: item.key });
          this.remove(item.key);
          this.dispatchEvent(new CustomEvent("sent", { detail: { key: item.key, taskId: item.taskId, task } }));
        } catch (err) {
          if (err instanceof Unreachable) return;
          this.remove(item.key);
          const message = err instanceof ApiError ? err.message : String(err);
          this.dispatchEvent(new CustomEvent("failed", { detail: { key: item.key, taskId: item.taskId, message } }));
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
