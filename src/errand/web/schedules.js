// Schedules: each with its timing, next run and last result; pause or resume it, run it now.
// Schedules are made from a finished task ("Do this every morning" on its screen) or with
// `errand schedules add` on the computer; every run is an ordinary task in the task list.

import { h, replaceChildren } from "./dom.js";
import { shortTime } from "./task-list.js";

/** @param {any} run */
function lastResult(run) {
  if (!run) return "Not run yet";
  const when = shortTime(run.due_at);
  if (run.outcome) return `${run.outcome} · ${when}`;
  if (run.state === "skipped") return `skipped (missed) · ${when}`;
  if (run.state === "refused") return `could not start · ${when}`;
  return `${run.state} · ${when}`;
}

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @returns {() => void}
 */
export function showSchedules(root, ctx) {
  let closed = false;
  const list = h("ul", { class: "tasks", "aria-label": "Schedules" });
  const empty = h("p", { class: "hint empty", hidden: true, text: "No schedules yet. Open a finished task and tap “Do this every morning”." });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const status = h("p", { class: "hint", role: "status" });

  root.appendChild(h("section", { class: "screen schedules" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      h("h1", { text: "Schedules" })),
    error, status, list, empty));

  /** @param {any} schedule */
  const row = (schedule) => {
    const name = String(schedule.name);
    const path = `/schedules/${encodeURIComponent(name)}`;
    const toggle = h("button", {
      type: "button", class: "secondary",
      text: schedule.paused ? "Resume" : "Pause",
      onclick: () => void act("POST", `${path}/${schedule.paused ? "resume" : "pause"}`, schedule.paused ? `${name} resumed.` : `${name} paused.`),
    });
    const runNow = h("button", { type: "button", class: "secondary", text: "Run now", onclick: () => void act("POST", `${path}/run`, `A run of ${name} was queued.`) });
    const next = schedule.paused ? "Paused" : schedule.next_at ? `Next: ${shortTime(schedule.next_at)}` : "Finished";
    return h("li", { class: "schedule" },
      h("div", { class: "task-title", text: name }),
      h("div", { class: "task-meta" },
        h("span", { text: String(schedule.timing) }),
        h("span", { class: "next-run", text: next }),
        h("span", { class: "last-result", text: `Last: ${lastResult(schedule.last_run)}` })),
      h("div", { class: "row-actions" }, toggle, runNow));
  };

  /**
   * @param {string} method
   * @param {string} path
   * @param {string} done
   */
  async function act(method, path, done) {
    try {
      await ctx.api.command(method, path);
      status.textContent = done;
      await load();
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : String(err);
      error.hidden = false;
    }
  }

  async function load() {
    try {
      const answer = await ctx.api.request("GET", "/schedules");
      if (closed) return;
      replaceChildren(list, answer.schedules.map(row));
      empty.hidden = answer.schedules.length > 0;
      error.hidden = true;
    } catch (err) {
      if (closed) return;
      error.textContent = err instanceof Error ? err.message : String(err);
      error.hidden = false;
    }
  }

  void load();
  return () => {
    closed = true;
  };
}

/**
 * "Do this every morning": a daily 08:00 schedule (the phone's timezone) repeating a task.
 * @param {import("./app.js").AppContext} ctx
 * @param {any} task
 * @returns {Promise<string>} the schedule's name
 */
export async function repeatEveryMorning(ctx, task) {
  const base = String(task.title ?? "errand").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "errand";
  const name = `${base}-${String(task.id).slice(-6)}`;
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  await ctx.api.command("POST", "/schedules", { name, from_task: task.id, cron: "0 8 * * *", tz });
  return name;
}
