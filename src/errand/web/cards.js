// The cards in a task's log that wait for the user: approvals and questions.
//
// An approval card says in words what will happen: a command shows the command, a write the
// new content (or, over an existing file, that it replaces it and the diff), anything else its
// one-line summary, with the exact arguments one tap away. Paths inside the sandbox
// (/sessions/<id>/mnt/<folder>/...) are shown as <folder>/... . A decision sends back the
// digest it was shown; a denial may carry a reason, which the model is told. Once decided,
// the card says who decided by device name and drops its expiry line. Questions are answered
// from the task's one text box (task-view.js), so their card only shows the question.

import { ApiError, Unreachable, session } from "./api.js";
import { h } from "./dom.js";
import { shortTime } from "./task-list.js";

const SANDBOX_PATH = /\/sessions\/[^/\s"']+\/mnt\//g;

/**
 * A path or text with sandbox mount points shown as folder names.
 * @param {unknown} text
 */
export function withoutSandboxPaths(text) {
  return String(text ?? "").replace(SANDBOX_PATH, "").replace(/\/sessions\/[^/\s"']+\/mnt\b/g, "(folders)");
}

/** @param {string} text */
function parsed(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** @param {string} text */
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * What the approved step will do, in words and the exact text that matters.
 * @param {any} action
 * @returns {(HTMLElement | null)[]}
 */
function whatWillHappen(action) {
  const args = parsed(String(action.arguments ?? ""));
  const summary = withoutSandboxPaths(action.summary);
  const kind = String(action.kind ?? "");
  if (kind === "shell" && typeof args.command === "string") {
    const where = folderOf(action.workdir);
    return [
      h("p", { class: "approval-what", text: where ? `Run this command in ${where}:` : "Run this command:" }),
      h("pre", { class: "approval-command", text: args.command }),
    ];
  }
  if (kind === "write" && typeof args.content === "string") {
    const file = withoutSandboxPaths(String(args.path ?? summary));
    const shown = file.startsWith("write ") ? file.slice(6) : file;
    if (action.replaces) {
      return [
        h("p", { class: "approval-what", text: `Write ${shown}` }),
        h("p", { class: "approval-replaces warn", text: "This replaces an existing file." }),
        typeof action.diff === "string" && action.diff
          ? h("pre", { class: "diff approval-diff", "aria-label": "What changes", text: action.diff })
          : h("p", { class: "hint", text: "Its current content is too large or not text, so no comparison is shown." }),
      ];
    }
    return [
      h("p", { class: "approval-what", text: `Write a new file ${shown} with this content:` }),
      h("pre", { class: "approval-content", text: args.content }),
    ];
  }
  if (kind === "write" && typeof args.old_string === "string" && typeof args.new_string === "string") {
    return [
      h("p", { class: "approval-what", text: `${summary[0]?.toUpperCase() ?? ""}${summary.slice(1)}: replace` }),
      h("pre", { class: "approval-old", text: args.old_string }),
      h("p", { class: "approval-what", text: "with" }),
      h("pre", { class: "approval-new", text: args.new_string }),
    ];
  }
  return [h("p", { class: "approval-what", text: `${summary[0]?.toUpperCase() ?? ""}${summary.slice(1)}` })];
}

/** @param {unknown} workdir */
function folderOf(workdir) {
  if (typeof workdir !== "string" || !workdir) return "";
  const shown = withoutSandboxPaths(workdir).replace(/\/$/, "");
  return shown.startsWith("/") ? "" : shown;
}

/**
 * @param {any} payload  the approval.requested event's payload
 * @param {import("./app.js").AppContext} ctx
 * @param {() => void} onDecided  told when this device's decision went through
 */
export function approvalCard(payload, ctx, onDecided) {
  const action = payload.action ?? {};
  const rows = [
    ["Folder", action.folder],
    ["Website", action.domain ? `${action.domain}${action.port ? `:${action.port}` : ""}` : null],
    ["Tool", action.tool],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const status = h("p", { class: "approval-status", role: "status" });
  const expires = payload.expires_at
    ? h("p", { class: "approval-expires hint", text: `If nobody decides, it will not run after ${shortTime(String(payload.expires_at))}.` })
    : null;
  const approve = h("button", { type: "button", class: "primary", text: "Approve" });
  const deny = h("button", { type: "button", class: "danger", text: "Deny" });
  const reasonId = `reason-${String(payload.approval_id).replace(/[^A-Za-z0-9_-]/g, "")}`;
  const reason = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: reasonId, rows: "2", maxlength: "2000", placeholder: "For example: keep the old files" }));
  const denyWithReason = h("button", { type: "button", class: "danger", text: "Deny and tell Errand" });
  const reasonBox = h("details", { class: "deny-reason" },
    h("summary", { text: "Deny with a reason" }),
    h("label", { for: reasonId, text: "Why not? Errand is told." }),
    reason,
    denyWithReason);
  const buttons = h("div", { class: "approval-decide" }, h("div", { class: "approval-buttons" }, deny, approve), reasonBox);
  const card = h("li", { class: "entry card approval pending", "data-approval": String(payload.approval_id) },
    h("h2", { text: "Approve this step?" }),
    whatWillHappen(action),
    rows.length ? h("dl", {}, rows.map(([label, value]) => [h("dt", { text: String(label) }), h("dd", { text: withoutSandboxPaths(value) })])) : null,
    action.arguments ? h("details", { class: "approval-arguments" },
      h("summary", { text: "Exact arguments" }),
      h("pre", { class: "arguments", text: withoutSandboxPaths(prettyJson(String(action.arguments))) })) : null,
    expires,
    buttons,
    status);
  const all = [approve, deny, denyWithReason];
  /**
   * @param {boolean} yes
   * @param {string} [why]
   */
  const decide = async (yes, why) => {
    for (const button of all) button.setAttribute("disabled", "");
    status.textContent = yes ? "Approving…" : "Denying…";
    /** @type {Record<string, unknown>} */
    const body = { approve: yes, digest: payload.digest };
    if (why) body.reason = why;
    try {
      await ctx.api.command("POST", `/approvals/${encodeURIComponent(String(payload.approval_id))}`, body);
      // The decision's event may have arrived first and said more (who decided): keep that.
      if (card.classList.contains("pending")) status.textContent = yes ? "Approved." : "Denied.";
      onDecided();
    } catch (err) {
      if (err instanceof ApiError && ["already_decided", "approval_expired", "digest_mismatch"].includes(err.code)) {
        status.textContent = err.message;
        buttons.remove();
        expires?.remove();
        return;
      }
      status.textContent = `Not sent: ${message(err)}`;
      for (const button of all) button.removeAttribute("disabled");
    }
  };
  approve.addEventListener("click", () => void decide(true));
  deny.addEventListener("click", () => void decide(false, reason.value.trim()));
  denyWithReason.addEventListener("click", () => void decide(false, reason.value.trim()));
  return card;
}

/** @type {Promise<Map<string, string>> | null} */
let deviceNames = null;

/**
 * Who decided, in words: a paired device by its name.
 * @param {import("./app.js").AppContext} ctx
 * @param {string} by  ``device:<id>``, ``token:<id>`` or a word the computer recorded
 */
export async function deciderName(ctx, by) {
  const [kind, id] = by.includes(":") ? [by.slice(0, by.indexOf(":")), by.slice(by.indexOf(":") + 1)] : ["", by];
  if (kind === "token") return "a script using an API token";
  if (kind !== "device") {
    if (by === "--yes") return "errand run --yes";
    if (by === "terminal") return "the computer's terminal";
    return by;
  }
  const me = session.device();
  if (me?.id === id && me.name) return me.name;
  deviceNames ??= ctx.api.request("GET", "/devices").then(
    (answer) => new Map((answer?.devices ?? []).map((/** @type {any} */ d) => [String(d.id), String(d.name)])),
    () => new Map(),
  );
  const names = await deviceNames;
  if (!names.has(id)) deviceNames = null; // paired since: ask again next time
  return names.get(id) ?? "another device";
}

/**
 * @param {HTMLElement} card
 * @param {import("./app.js").AppContext} ctx
 * @param {{status: string, by: string, reason: string}} decision
 */
export function settleApproval(card, ctx, decision) {
  const { status, by, reason } = decision;
  card.classList.remove("pending");
  card.classList.add(`decided-${status.replace(/[^a-z]/g, "")}`);
  card.querySelector(".approval-decide")?.remove();
  card.querySelector(".approval-expires")?.remove();
  const heading = card.querySelector("h2");
  /** @type {Record<string, string>} */
  const headings = { approved: "Approved", denied: "Denied", expired: "Expired", void: "No longer needed" };
  if (heading) heading.textContent = headings[status] ?? status;
  const line = /** @type {HTMLElement} */ (card.querySelector(".approval-status"));
  const because = reason ? `: “${reason}”` : ".";
  if (status === "void") line.textContent = "The task stopped before a decision.";
  else if (status === "expired") line.textContent = "Nobody decided in time, so it did not run.";
  else if (!by) line.textContent = `${headings[status] ?? status}${because}`;
  else if (by === "nobody can answer") line.textContent = "Denied: nobody could be asked.";
  else {
    line.textContent = `${headings[status] ?? status}${because}`;
    void deciderName(ctx, by).then((name) => {
      line.textContent = `${headings[status] ?? status} on ${name}${because}`;
    });
  }
}

/** @param {any} payload  the question.asked event's payload */
export function questionCard(payload) {
  return h("li", { class: "entry card question pending", "data-question": String(payload.question_id) },
    h("h2", { text: "Errand asks" }),
    h("p", { class: "plain question-text", text: String(payload.text ?? "") }),
    h("p", { class: "question-status hint", role: "status", text: "Answer in the box below." }));
}

/**
 * @param {HTMLElement} card
 * @param {string | null} answer  null: the task stopped before an answer
 */
export function settleQuestion(card, answer) {
  card.classList.remove("pending");
  const line = /** @type {HTMLElement} */ (card.querySelector(".question-status"));
  line.classList.remove("hint");
  line.textContent = answer === null ? "Not answered: the task stopped." : `Answered: ${answer}`;
}

/** @param {unknown} err */
export function message(err) {
  if (err instanceof Unreachable) return "can't reach your computer.";
  return err instanceof Error ? err.message : String(err);
}
