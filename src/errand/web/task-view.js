// One task, live: its event log rendered as it streams (docs/api.md, "Live events").
//
// Each event is applied once, in sequence order (LiveStream drops repeats), so a reconnect
// with Last-Event-ID neither loses nor duplicates anything on screen. Agent text is untrusted:
// streaming deltas are shown as text, the finished message through the sanitising Markdown
// renderer, tool arguments and results as text in <pre>. Approvals show exactly what will run
// and send back the digest they were shown; questions take an answer inline.

import { ApiError, Unreachable } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { showFiles } from "./files.js";
import { renderMarkdown } from "./markdown.js";
import { LiveStream } from "./stream.js";
import { repeatEveryMorning } from "./schedules.js";
import { FINAL_STATUSES, STATUS_LABELS, shortTime, statusBadge } from "./task-list.js";

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @param {string} taskId
 * @returns {() => void}
 */
export function showTask(root, ctx, taskId) {
  const base = `/tasks/${encodeURIComponent(taskId)}`;
  /** @type {any} */
  let task = null;
  let status = "";
  /** until when a follow-up or resume may still be reopening a finished task (ms epoch) */
  let reopeningUntil = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  /** @type {HTMLElement | null} the assistant message being streamed */
  let streaming = null;
  /** @type {Map<string, HTMLElement>} */
  const toolCalls = new Map();
  /** @type {Map<string, HTMLElement>} */
  const approvals = new Map();
  /** @type {Map<string, HTMLElement>} */
  const questions = new Map();

  const title = h("h1", { class: "task-heading", text: "Task" });
  const badge = h("span", { class: "status-slot" });
  const meta = h("p", { class: "task-info hint" });
  const log = h("ol", { class: "log", "aria-label": "What happened", "aria-live": "polite" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = h("button", { type: "button", class: "danger small", hidden: true, text: "Cancel task", onclick: () => void cancelTask() });
  const resume = h("button", { type: "button", class: "secondary small", hidden: true, text: "Resume", onclick: () => void resumeTask() });
  const repeat = h("button", { type: "button", class: "secondary small", hidden: true, text: "Do this every morning", onclick: () => void repeatTask() });
  const filesButton = h("button", { type: "button", class: "secondary small", text: "Files", "aria-expanded": "false", onclick: () => void toggleFiles() });
  const filesBox = h("section", { class: "files", hidden: true, "aria-label": "Files the task wrote" });
  const followText = h("textarea", { id: "follow-up", rows: "2", placeholder: "Reply or ask for more…" });
  const followSend = h("button", { type: "submit", class: "primary", text: "Send" });
  const followForm = h("form", { class: "follow-up" },
    h("label", { for: "follow-up", class: "visually-hidden", text: "Message to the task" }),
    followText, followSend);

  root.appendChild(h("section", { class: "screen task-view" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      title),
    h("div", { class: "task-summary" }, badge, meta),
    h("div", { class: "task-actions" }, filesButton, repeat, resume, cancel),
    filesBox,
    problem,
    log,
    followForm));

  const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
  /** @param {HTMLElement} entry */
  const add = (entry) => {
    const stick = nearBottom();
    log.appendChild(entry);
    if (stick) entry.scrollIntoView({ block: "end" });
    return entry;
  };

  const renderHeader = () => {
    if (task) title.textContent = String(task.title || task.prompt || "Task");
    replaceChildren(badge, status ? statusBadge(status) : null);
    const parts = [];
    if (task?.model) parts.push(String(task.model));
    if (inputTokens || outputTokens) parts.push(`${inputTokens.toLocaleString()} in / ${outputTokens.toLocaleString()} out tokens`);
    const took = duration(task);
    if (took) parts.push(took);
    meta.textContent = parts.join(" · ");
    cancel.hidden = !["queued", "running", "waiting"].includes(status);
    resume.hidden = status !== "interrupted";
    repeat.hidden = status !== "completed";
  };

  const refreshTask = async () => {
    try {
      task = await ctx.api.request("GET", base);
      if (!status) status = task.status;
      if (task.usage && !inputTokens && !outputTokens) {
        inputTokens = Number(task.usage.input_tokens) || 0;
        outputTokens = Number(task.usage.output_tokens) || 0;
      }
      renderHeader();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) showProblem("This task does not exist on the computer.");
    }
  };

  /** @param {string} message */
  const showProblem = (message) => {
    problem.textContent = message;
    problem.hidden = false;
  };

  /** @param {import("./sse.js").SseEvent} event */
  const apply = (event) => {
    /** @type {any} */
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const payload = data?.payload ?? {};
    const type = String(data?.type ?? event.event);
    switch (type) {
      case "task.created":
        add(bubble("user", h("p", { class: "plain", text: String(payload.prompt ?? "") })));
        break;
      case "task.status": {
        status = String(payload.status ?? status);
        if (!FINAL_STATUSES.has(status)) reopeningUntil = 0;
        if (FINAL_STATUSES.has(status)) {
          endStreaming();
          settleOpenItems();
          const error = payload.error && String(payload.error).toLowerCase() !== status ? `: ${payload.error}` : "";
          const line = `${STATUS_LABELS[status] ?? status}${error}`;
          add(h("li", { class: `entry status-line status-${status}`, text: line }));
        }
        renderHeader();
        void refreshTask();
        break;
      }
      case "message.delta": {
        if (!streaming) {
          streaming = h("div", { class: "markdown streaming" });
          add(bubble("assistant", streaming));
        }
        streaming.appendChild(document.createTextNode(String(payload.text ?? "")));
        break;
      }
      case "message": {
        const text = String(payload.text ?? "");
        if (streaming) {
          replaceChildren(streaming, renderMarkdown(text));
          streaming.classList.remove("streaming");
        } else if (text.trim()) {
          add(bubble("assistant", h("div", { class: "markdown" }, renderMarkdown(text))));
        }
        streaming = null;
        break;
      }
      case "message.user":
        endStreaming();
        add(bubble("user", h("p", { class: "plain", text: String(payload.text ?? "") })));
        break;
      case "tool.call": {
        endStreaming();
        const entry = toolEntry(payload);
        toolCalls.set(String(payload.call_id), entry);
        add(entry);
        break;
      }
      case "tool.result": {
        const entry = toolCalls.get(String(payload.call_id));
        if (entry) addToolResult(entry, payload);
        break;
      }
      case "network.decision":
        add(h("li", { class: `entry network verdict-${String(payload.verdict).replace(/[^a-z]/g, "")}` },
          `Network: ${payload.host}:${payload.port} ${payload.verdict}${payload.reason ? ` (${payload.reason})` : ""}`));
        break;
      case "approval.requested": {
        endStreaming();
        const card = approvalCard(payload, ctx);
        approvals.set(String(payload.approval_id), card);
        add(card);
        break;
      }
      case "approval.decided": {
        const card = approvals.get(String(payload.approval_id));
        if (card) settleApproval(card, String(payload.status), String(payload.decided_by ?? ""));
        break;
      }
      case "question.asked": {
        endStreaming();
        const card = questionCard(payload, ctx);
        questions.set(String(payload.question_id), card);
        add(card);
        break;
      }
      case "question.answered": {
        const card = questions.get(String(payload.question_id));
        if (card) settleQuestion(card, String(payload.answer ?? ""));
        break;
      }
      case "usage":
        inputTokens += Number(payload.input_tokens) || 0;
        outputTokens += Number(payload.output_tokens) || 0;
        renderHeader();
        break;
      default:
        break;
    }
  };

  /** A task that ended no longer waits: its open cards and running tools say so. */
  const settleOpenItems = () => {
    for (const card of questions.values()) {
      if (card.classList.contains("pending")) settleQuestion(card, null);
    }
    for (const card of approvals.values()) {
      if (card.classList.contains("pending")) settleApproval(card, "void", "");
    }
    for (const entry of toolCalls.values()) {
      if (!entry.classList.contains("ok") && !entry.classList.contains("failed")) {
        entry.classList.add("failed");
        const state = entry.querySelector(".tool-state");
        if (state) state.textContent = "stopped";
      }
    }
  };

  const endStreaming = () => {
    streaming?.classList.remove("streaming");
    streaming = null;
  };

  const stream = new LiveStream(ctx.api, `${base}/events`, {
    onEvent: apply,
    // A finished task's stream ends; after a follow-up, keep reconnecting until the task
    // has visibly reopened (the runner may take a moment to record it).
    onEnd: () => FINAL_STATUSES.has(status) && Date.now() > reopeningUntil,
    onFatal: (err) => {
      if (err.status === 404) showProblem("This task does not exist on the computer.");
    },
  });

  const cancelTask = async () => {
    cancel.setAttribute("disabled", "");
    try {
      await ctx.api.command("POST", `${base}/cancel`);
    } catch (err) {
      showProblem(`Could not cancel: ${message(err)}`);
    } finally {
      cancel.removeAttribute("disabled");
    }
  };

  const repeatTask = async () => {
    try {
      const name = await repeatEveryMorning(ctx, task);
      repeat.hidden = true;
      problem.textContent = "";
      problem.hidden = true;
      meta.textContent = `Scheduled every morning at 8:00 as “${name}”.`;
    } catch (err) {
      problem.textContent = err instanceof Error ? err.message : String(err);
      problem.hidden = false;
    }
  };

  const resumeTask = async () => {
    try {
      const resumed = await ctx.api.command("POST", `${base}/resume`);
      if (resumed && typeof resumed.status === "string") status = resumed.status;
      reopeningUntil = Date.now() + 30_000;
      renderHeader();
      stream.start();
    } catch (err) {
      showProblem(`Could not resume: ${message(err)}`);
    }
  };

  let filesOpen = false;
  /** @type {(() => void) | null} */
  let closeFiles = null;
  const toggleFiles = async () => {
    filesOpen = !filesOpen;
    filesButton.setAttribute("aria-expanded", String(filesOpen));
    closeFiles?.();
    closeFiles = null;
    filesBox.hidden = !filesOpen;
    if (filesOpen) closeFiles = showFiles(filesBox, ctx, taskId);
  };

  followForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = /** @type {HTMLTextAreaElement} */ (followText).value.trim();
    if (!text) return;
    followSend.setAttribute("disabled", "");
    try {
      const reopened = await ctx.api.command("POST", `${base}/messages`, { text });
      if (reopened && typeof reopened.status === "string") status = reopened.status;
      reopeningUntil = Date.now() + 30_000;
      renderHeader();
      /** @type {HTMLTextAreaElement} */ (followText).value = "";
      problem.hidden = true;
      // A finished task reopens: its stream continues after the last event seen.
      stream.start();
    } catch (err) {
      showProblem(`Could not send: ${message(err)}`);
    } finally {
      followSend.removeAttribute("disabled");
    }
  });

  void refreshTask();
  stream.start();
  return () => {
    stream.stop();
    closeFiles?.();
  };
}

/** @param {unknown} err */
function message(err) {
  if (err instanceof Unreachable) return "can't reach your computer.";
  return err instanceof Error ? err.message : String(err);
}

/** @param {any} task */
function duration(task) {
  if (!task?.started_at) return "";
  const start = Date.parse(task.started_at);
  const end = task.finished_at ? Date.parse(task.finished_at) : NaN;
  if (Number.isNaN(start) || Number.isNaN(end)) return task.started_at ? `started ${shortTime(task.started_at)}` : "";
  const seconds = Math.max(0, Math.round((end - start) / 1000));
  return seconds < 90 ? `took ${seconds} s` : `took ${Math.round(seconds / 60)} min`;
}

/**
 * @param {"user" | "assistant"} who
 * @param {HTMLElement} content
 */
function bubble(who, content) {
  return h("li", { class: `entry bubble ${who}` },
    h("span", { class: "visually-hidden", text: who === "user" ? "You:" : "Errand:" }), content);
}

/** @param {string} text */
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** @param {any} payload */
function toolEntry(payload) {
  const summary = String(payload.summary || "");
  return h("li", { class: "entry tool", "data-call": String(payload.call_id) },
    h("details", {},
      h("summary", {},
        h("span", { class: "tool-name", text: String(payload.tool) }),
        summary ? h("span", { class: "tool-summary", text: summary }) : null,
        h("span", { class: "tool-state", text: "running…" })),
      h("p", { class: "label", text: "Arguments" }),
      h("pre", { class: "arguments", text: prettyJson(String(payload.arguments ?? "")) })));
}

/**
 * @param {HTMLElement} entry
 * @param {any} payload
 */
function addToolResult(entry, payload) {
  const details = /** @type {HTMLElement} */ (entry.querySelector("details"));
  const state = /** @type {HTMLElement} */ (entry.querySelector(".tool-state"));
  const error = Boolean(payload.is_error);
  entry.classList.add(error ? "failed" : "ok");
  const seconds = Number(payload.duration);
  state.textContent = `${error ? "error" : "done"}${Number.isFinite(seconds) ? ` · ${seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`}` : ""}`;
  details.appendChild(h("p", { class: "label", text: error ? "Error" : "Result" }));
  details.appendChild(h("pre", { class: "result", text: String(payload.content ?? "") }));
  if (payload.truncated) details.appendChild(h("p", { class: "hint", text: "(cut short)" }));
  const files = Array.isArray(payload.files) ? payload.files : [];
  if (files.length) details.appendChild(h("p", { class: "hint", text: `Files: ${files.join(", ")}` }));
}

/**
 * @param {any} payload
 * @param {import("./app.js").AppContext} ctx
 */
function approvalCard(payload, ctx) {
  const action = payload.action ?? {};
  const rows = [
    ["Tool", action.tool],
    ["What", action.summary],
    ["Folder", action.folder],
    ["Working folder", action.workdir],
    ["Website", action.domain ? `${action.domain}${action.port ? `:${action.port}` : ""}` : null],
    ["Expires", payload.expires_at ? shortTime(String(payload.expires_at)) : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const status = h("p", { class: "approval-status", role: "status" });
  const approve = h("button", { type: "button", class: "primary", text: "Approve" });
  const deny = h("button", { type: "button", class: "danger", text: "Deny" });
  const buttons = h("div", { class: "approval-buttons" }, deny, approve);
  const card = h("li", { class: "entry card approval pending", "data-approval": String(payload.approval_id) },
    h("h2", { text: "Approve this step?" }),
    h("dl", {}, rows.map(([label, value]) => [h("dt", { text: String(label) }), h("dd", { text: String(value) })])),
    action.arguments ? h("details", { open: true },
      h("summary", { text: "Exact arguments" }),
      h("pre", { class: "arguments", text: prettyJson(String(action.arguments)) })) : null,
    buttons,
    status);
  /** @param {boolean} yes */
  const decide = async (yes) => {
    approve.setAttribute("disabled", "");
    deny.setAttribute("disabled", "");
    status.textContent = yes ? "Approving…" : "Denying…";
    try {
      await ctx.api.command("POST", `/approvals/${encodeURIComponent(String(payload.approval_id))}`, { approve: yes, digest: payload.digest });
      // The decision's event may have arrived first and said more (who decided): keep that.
      if (card.classList.contains("pending")) status.textContent = yes ? "Approved." : "Denied.";
    } catch (err) {
      if (err instanceof ApiError && ["already_decided", "approval_expired", "digest_mismatch"].includes(err.code)) {
        status.textContent = err.message;
        buttons.remove();
        return;
      }
      status.textContent = `Not sent: ${message(err)}`;
      approve.removeAttribute("disabled");
      deny.removeAttribute("disabled");
    }
  };
  approve.addEventListener("click", () => void decide(true));
  deny.addEventListener("click", () => void decide(false));
  return card;
}

/**
 * @param {HTMLElement} card
 * @param {string} status
 * @param {string} by
 */
function settleApproval(card, status, by) {
  card.classList.remove("pending");
  card.classList.add(`decided-${status.replace(/[^a-z]/g, "")}`);
  card.querySelector(".approval-buttons")?.remove();
  const heading = card.querySelector("h2");
  /** @type {Record<string, string>} */
  const headings = { approved: "Approved", denied: "Denied", expired: "Expired", void: "No longer needed" };
  if (heading) heading.textContent = headings[status] ?? status;
  const line = /** @type {HTMLElement} */ (card.querySelector(".approval-status"));
  line.textContent = status === "void"
    ? "The task stopped before a decision."
    : `${status[0]?.toUpperCase() ?? ""}${status.slice(1)}${by ? ` by ${by}` : ""}.`;
}

/**
 * @param {any} payload
 * @param {import("./app.js").AppContext} ctx
 */
function questionCard(payload, ctx) {
  const id = `answer-${String(payload.question_id).replace(/[^A-Za-z0-9_-]/g, "")}`;
  const input = h("textarea", { id, rows: "2" });
  const send = h("button", { type: "submit", class: "primary", text: "Answer" });
  const status = h("p", { class: "question-status", role: "status" });
  const form = h("form", { class: "stack" }, h("label", { for: id, text: "Your answer" }), input, send);
  const card = h("li", { class: "entry card question pending", "data-question": String(payload.question_id) },
    h("h2", { text: "Errand asks" }),
    h("p", { class: "plain question-text", text: String(payload.text ?? "") }),
    form,
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = /** @type {HTMLTextAreaElement} */ (input).value.trim();
    if (!answer) return;
    send.setAttribute("disabled", "");
    try {
      await ctx.api.command("POST", `/questions/${encodeURIComponent(String(payload.question_id))}/answer`, { answer });
      if (card.classList.contains("pending")) status.textContent = "Answer sent.";
    } catch (err) {
      status.textContent = err instanceof ApiError && err.code === "already_answered" ? err.message : `Not sent: ${message(err)}`;
      send.removeAttribute("disabled");
    }
  });
  return card;
}

/**
 * @param {HTMLElement} card
 * @param {string | null} answer  null: the task stopped before an answer
 */
function settleQuestion(card, answer) {
  card.classList.remove("pending");
  card.querySelector("form")?.remove();
  const line = /** @type {HTMLElement} */ (card.querySelector(".question-status"));
  line.textContent = answer === null ? "Not answered: the task stopped." : `Answered: ${answer}`;
}
