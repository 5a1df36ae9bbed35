// One task, live: its event log rendered as it streams (docs/api.md, "Live events").
//
// Each event is applied once, in sequence order (LiveStream drops repeats), so a reconnect
// with Last-Event-ID neither loses nor duplicates anything on screen. Agent text is untrusted:
// streaming text goes through the sanitising Markdown renderer as it arrives (with a
// delimiter still waiting for its partner held back, so no raw ** flashes), as does the
// finished message; tool arguments and results as text in <pre>. Approvals show exactly what will run
// and send back the digest they were shown (cards.js). There is one text box: while a question
// waits it answers the question, otherwise it sends the task a message, which shows at once
// and says "sent" until the task reads it.
//
// Offline: the events shown are kept on the phone (offline.js) and replayed at once when the
// task is opened again, and the stream resumes after the last of them, so a transcript seen
// once stays readable without the computer. A message typed while the computer cannot be
// reached is queued (outbox.js), shown as "Queued — sends when your computer is back", and
// sent with its first Idempotency-Key when it is back; while a question waits, the queued
// message answers it then. A "can't reach" problem line goes away once the computer answers.

import { ApiError, Unreachable } from "./api.js";
import { approvalCard, message, questionCard, settleApproval, settleQuestion } from "./cards.js";
import { h, randomKey, replaceChildren } from "./dom.js";
import { showFiles } from "./files.js";
import { renderMarkdown } from "./markdown.js";
import { keepTranscript, recallTranscript } from "./offline.js";
import { LiveStream } from "./stream.js";
import { repeatEveryMorning } from "./schedules.js";
import { FINAL_STATUSES, STATUS_LABELS, attentionLine, shortTime, statusBadge } from "./task-list.js";

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
  let streamedText = "";
  let renderQueued = false;
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
  /** what went wrong on the way, shown at the end of a finished task's log */
  const attention = h("li", { class: "entry attention", role: "note" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = h("button", { type: "button", class: "danger small", hidden: true, text: "Cancel task", onclick: () => askToCancel(true) });
  const cancelConfirm = h("div", { class: "confirm-cancel card", role: "group", "aria-label": "Cancel this task?", hidden: true },
    h("p", { text: "Stop this task now? What it already did stays done." }),
    h("div", { class: "approval-buttons" },
      h("button", { type: "button", class: "secondary", text: "Keep it running", onclick: () => askToCancel(false) }),
      h("button", { type: "button", class: "danger", text: "Stop the task", onclick: () => void cancelTask() })));
  const resume = h("button", { type: "button", class: "secondary small", hidden: true, text: "Resume", onclick: () => void resumeTask() });
  const repeat = h("button", { type: "button", class: "secondary small", hidden: true, text: "Do this every morning", onclick: () => void repeatTask() });
  const filesButton = h("button", { type: "button", class: "secondary small", text: "Files", "aria-expanded": "false", onclick: () => void toggleFiles() });
  const filesBox = h("section", { class: "files", hidden: true, "aria-label": "Files the task wrote" });
  const followText = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "follow-up", rows: "2", placeholder: "Reply or ask for more…" }));
  const followSend = h("button", { type: "submit", class: "primary", text: "Send" });
  const followLabel = h("label", { for: "follow-up", class: "visually-hidden", text: "Message to the task" });
  const answering = h("p", { class: "answering hint", hidden: true });
  const needsYou = h("button", { type: "button", class: "attention-bar", hidden: true, text: "Approval needed ↓", onclick: () => jumpToCard() });
  const newBelow = h("button", { type: "button", class: "new-below small", hidden: true, text: "New below ↓", onclick: () => jumpToEnd() });
  const followForm = h("form", { class: "follow-up" },
    h("div", { class: "floaters" }, needsYou, newBelow),
    answering,
    h("div", { class: "follow-up-row" }, followLabel, followText, followSend));
  /** messages this phone sent (or saw sent) that the task has not read yet, oldest first */
  /** @type {{text: string, entry: HTMLElement, logged: boolean, key?: string}[]} */
  const unread = [];
  /** the events shown, as they came, kept for reading offline (deltas only until their message) */
  /** @type {import("./sse.js").SseEvent[]} */
  let seen = [];
  let keepTimer = 0;
  let closed = false;

  root.appendChild(h("section", { class: "screen task-view" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      title),
    h("div", { class: "task-summary" }, badge, meta, cancel),
    cancelConfirm,
    h("div", { class: "task-actions" }, filesButton, repeat, resume),
    filesBox,
    problem,
    log,
    followForm));

  // Following the output: new entries keep the end in view while the reader is at the end;
  // a reader who scrolled up stays put and gets a "New below" chip instead. A card that needs
  // the user is scrolled to when it appears (so opening a waiting task lands on it), unless
  // the user has scrolled since; while it is off-screen a bar points to it.
  const nearBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  let following = true;
  let userMoved = false;
  const jumpToEnd = () => {
    following = true;
    newBelow.hidden = true;
    window.scrollTo(0, document.documentElement.scrollHeight);
  };
  const pendingCard = () => log.querySelector(".card.approval.pending") ?? log.querySelector(".card.question.pending");
  const jumpToCard = () => {
    const card = pendingCard();
    if (card) card.scrollIntoView({ block: "center" });
    updateFloaters();
  };
  const updateFloaters = () => {
    if (nearBottom()) newBelow.hidden = true;
    const card = log.querySelector(".card.approval.pending");
    if (!card) {
      needsYou.hidden = true;
      return;
    }
    const box = card.getBoundingClientRect();
    const footer = followForm.getBoundingClientRect().height;
    const above = box.bottom < 64;
    const below = box.top > window.innerHeight - footer;
    needsYou.hidden = !(above || below);
    needsYou.textContent = above ? "Approval needed ↑" : "Approval needed ↓";
  };
  let lastScrollY = window.scrollY;
  let programmatic = false;
  const onScroll = () => {
    // Only the reader's own scrolling changes whether the end is followed.
    if (Math.abs(window.scrollY - lastScrollY) > 2 && !programmatic) {
      userMoved = true;
      following = nearBottom();
    }
    lastScrollY = window.scrollY;
    updateFloaters();
  };
  /** @param {() => void} move */
  const scrollBy = (move) => {
    programmatic = true;
    move();
    lastScrollY = window.scrollY;
    requestAnimationFrame(() => {
      programmatic = false;
      lastScrollY = window.scrollY;
    });
  };
  /** Whether the newest entry starts below what the reader can see. */
  const endOutOfSight = () => {
    const last = log.lastElementChild;
    return last !== null && last.getBoundingClientRect().top > window.innerHeight - followForm.getBoundingClientRect().height;
  };
  const grew = () => {
    if (following) scrollBy(() => window.scrollTo(0, document.documentElement.scrollHeight));
    else if (endOutOfSight()) newBelow.hidden = false;
    updateFloaters();
  };
  /** @param {HTMLElement} entry */
  const add = (entry) => {
    log.appendChild(entry);
    if (entry.classList.contains("pending") && !userMoved) {
      scrollBy(() => entry.scrollIntoView({ block: "center" }));
      following = nearBottom();
      updateFloaters();
    } else {
      grew();
    }
    return entry;
  };
  window.addEventListener("scroll", onScroll, { passive: true });

  /** The schedule's name once "Do this every morning" made one. */
  let scheduledAs = "";
  const renderHeader = () => {
    if (task) title.textContent = String(task.title || task.prompt || "Task");
    replaceChildren(badge, status ? statusBadge(status) : null);
    const parts = [];
    if (task?.model) parts.push(String(task.model));
    if (inputTokens || outputTokens) parts.push(`${inputTokens.toLocaleString()} in / ${outputTokens.toLocaleString()} out tokens`);
    const took = duration(task);
    if (took) parts.push(took);
    // A task whose folders are on a worker that is not running says which one it waits for.
    if (status === "queued" && task?.waiting_for) parts.push(String(task.waiting_for));
    // Kept across later renders: a refresh of the task must not take the confirmation away.
    if (scheduledAs) parts.push(`Scheduled every morning at 8:00 as “${scheduledAs}”.`);
    meta.textContent = parts.join(" · ");
    const trouble = FINAL_STATUSES.has(status) && task?.status === status ? attentionLine(task) : "";
    if (trouble) {
      attention.textContent = `Needs a look: ${trouble}`;
      log.appendChild(attention); // (re)placed last, after the status line
    } else {
      attention.remove();
    }
    cancel.hidden = !["queued", "running", "waiting"].includes(status);
    if (cancel.hidden) cancelConfirm.hidden = true;
    resume.hidden = status !== "interrupted";
    repeat.hidden = status !== "completed" || scheduledAs !== "";
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

  /**
   * @param {string} message
   * @param {unknown} [err]  what went wrong; a "can't reach" problem clears on reconnect
   */
  const showProblem = (message, err) => {
    problem.textContent = message;
    problem.hidden = false;
    problem.dataset.offline = String(err instanceof Unreachable);
  };
  const onConnection = () => {
    if (ctx.connection.reachable && problem.dataset.offline === "true") {
      problem.hidden = true;
      problem.dataset.offline = "false";
    }
  };
  ctx.connection.addEventListener("change", onConnection);

  /** Keep the events shown so far, a moment after the last one. */
  const keepSoon = () => {
    clearTimeout(keepTimer);
    keepTimer = window.setTimeout(keepNow, 300);
  };
  const keepNow = () => {
    clearTimeout(keepTimer);
    if (seen.length) void keepTranscript(taskId, { task, events: seen });
  };

  /** @param {import("./sse.js").SseEvent} event */
  const record = (event) => {
    if (event.event === "message") seen = seen.filter((e) => e.event !== "message.delta");
    seen.push({ id: event.id, event: event.event, data: event.data });
    if (!closed) keepSoon();
    apply(event);
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
          streamedText = "";
          add(bubble("assistant", streaming));
        }
        streamedText += String(payload.text ?? "");
        if (!renderQueued) {
          renderQueued = true;
          // At most one render per frame, however fast the deltas come.
          requestAnimationFrame(() => {
            renderQueued = false;
            if (streaming) replaceChildren(streaming, renderMarkdown(settledMarkdown(streamedText)));
            grew();
          });
        }
        grew();
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
      case "task.follow_up": {
        const text = String(payload.text ?? "");
        const mine = unread.find((item) => item.text === text && !item.logged);
        if (mine) {
          mine.logged = true;
          markSent(mine.entry, "sent");
        } else {
          unread.push({ text, entry: sentBubble(text, "sent"), logged: true });
        }
        break;
      }
      case "message.user": {
        endStreaming();
        const text = String(payload.text ?? "");
        const waiting = unread.findIndex((item) => item.text === text);
        if (waiting >= 0) {
          const [item] = unread.splice(waiting, 1);
          if (item) markSent(item.entry, "sent");
        } else {
          add(bubble("user", h("p", { class: "plain", text })));
        }
        break;
      }
      case "tool.call": {
        endStreaming();
        const entry = toolEntry(payload);
        toolCalls.set(String(payload.call_id), entry);
        add(entry);
        break;
      }
      case "tool.result": {
        let entry = toolCalls.get(String(payload.call_id));
        if (!entry) {
          // A call a crash stopped before it started has only the result Errand recorded.
          entry = add(toolEntry(payload));
          toolCalls.set(String(payload.call_id), entry);
        }
        addToolResult(entry, payload);
        break;
      }
      case "network.decision":
        add(h("li", { class: `entry network verdict-${String(payload.verdict).replace(/[^a-z]/g, "")}` },
          `Network: ${payload.host}:${payload.port} ${payload.verdict}${payload.reason ? ` (${payload.reason})` : ""}`));
        break;
      case "approval.requested": {
        endStreaming();
        const card = approvalCard(payload, ctx, () => void 0);
        approvals.set(String(payload.approval_id), card);
        add(card);
        break;
      }
      case "approval.decided": {
        const card = approvals.get(String(payload.approval_id));
        if (card) settleApproval(card, ctx, { status: String(payload.status), by: String(payload.decided_by ?? ""), reason: String(payload.reason ?? "") });
        updateFloaters();
        break;
      }
      case "question.asked": {
        endStreaming();
        const card = questionCard(payload);
        questions.set(String(payload.question_id), card);
        add(card);
        renderComposer();
        break;
      }
      case "question.answered": {
        const answer = String(payload.answer ?? "");
        const card = questions.get(String(payload.question_id));
        if (card) settleQuestion(card, answer);
        // A message that answered the question shows once, as the card's answer.
        if (payload.answered_by === "message") dropUserBubble(answer);
        renderComposer();
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

  /**
   * Remove the newest user bubble saying `text` (the message logged just before it became
   * an answer), and forget it among the unread messages.
   * @param {string} text
   */
  const dropUserBubble = (text) => {
    const bubbles = [...log.querySelectorAll(".bubble.user")];
    const echo = bubbles.reverse().find((el) => el.querySelector(".plain")?.textContent === text);
    if (!echo) return;
    echo.remove();
    const at = unread.findIndex((item) => item.entry === echo);
    if (at >= 0) unread.splice(at, 1);
  };

  /** A task that ended no longer waits: its open cards and running tools say so. */
  const settleOpenItems = () => {
    for (const card of questions.values()) {
      if (card.classList.contains("pending")) settleQuestion(card, null);
    }
    for (const card of approvals.values()) {
      if (card.classList.contains("pending")) settleApproval(card, ctx, { status: "void", by: "", reason: "" });
    }
    renderComposer();
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
    onEvent: record,
    // A finished task's stream ends; after a follow-up, keep reconnecting until the task
    // has visibly reopened (the runner may take a moment to record it).
    onEnd: () => FINAL_STATUSES.has(status) && Date.now() > reopeningUntil,
    onFatal: (err) => {
      if (err.status === 404) showProblem("This task does not exist on the computer.");
    },
  });

  /** @param {boolean} open */
  const askToCancel = (open) => {
    cancelConfirm.hidden = !open;
    if (open) cancelConfirm.scrollIntoView({ block: "nearest" });
  };

  const cancelTask = async () => {
    cancelConfirm.hidden = true;
    cancel.setAttribute("disabled", "");
    try {
      await ctx.api.command("POST", `${base}/cancel`);
    } catch (err) {
      showProblem(`Could not cancel: ${message(err)}`, err);
    } finally {
      cancel.removeAttribute("disabled");
    }
  };

  const repeatTask = async () => {
    try {
      scheduledAs = await repeatEveryMorning(ctx, task);
      problem.textContent = "";
      problem.hidden = true;
      renderHeader();
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
      showProblem(`Could not resume: ${message(err)}`, err);
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

  /** The oldest question still waiting for an answer, if any. */
  const openQuestion = () => {
    for (const card of questions.values()) {
      if (card.classList.contains("pending")) return card;
    }
    return null;
  };

  /** The one text box answers the waiting question, or else messages the task. */
  const renderComposer = () => {
    const question = openQuestion();
    const text = question?.querySelector(".question-text")?.textContent ?? "";
    answering.hidden = !question;
    answering.textContent = question ? `Answering: ${text}` : "";
    followLabel.textContent = question ? "Your answer" : "Message to the task";
    followText.placeholder = question ? "Your answer…" : "Reply or ask for more…";
    followSend.textContent = question ? "Answer" : "Send";
  };

  /**
   * A message to the task, shown before the task reads it; `state` says how far it got.
   * @param {string} text
   * @param {string} state
   */
  const sentBubble = (text, state) => {
    const entry = add(bubble("user", h("p", { class: "plain", text }), h("span", { class: "sent-state" })));
    markSent(entry, state);
    return entry;
  };

  /** @param {string} text */
  const answerQuestion = async (text) => {
    const question = openQuestion();
    if (!question) return false;
    if (!ctx.connection.reachable) return false; // queued as a message, which answers it then
    const status = /** @type {HTMLElement} */ (question.querySelector(".question-status"));
    status.textContent = "Sending your answer…";
    try {
      await ctx.api.command("POST", `/questions/${encodeURIComponent(String(question.dataset.question))}/answer`, { answer: text });
      if (question.classList.contains("pending")) status.textContent = "Answer sent.";
      followText.value = "";
    } catch (err) {
      if (err instanceof Unreachable) {
        status.textContent = "Answer in the box below.";
        return false; // queued as a message, which answers the question when it arrives
      }
      status.textContent = err instanceof ApiError && err.code === "already_answered" ? err.message : `Not sent: ${message(err)}`;
    }
    return true;
  };

  /**
   * The message reached the computer: the task reads it next (a finished one reopens).
   * @param {HTMLElement} entry
   * @param {any} reopened  the task as the computer answered
   */
  const delivered = (entry, reopened) => {
    if (["sending", "queued"].includes(entry.dataset.state ?? "")) markSent(entry, "sent");
    if (reopened && typeof reopened.status === "string") status = reopened.status;
    reopeningUntil = Date.now() + 30_000;
    renderHeader();
    problem.hidden = true;
    // A finished task reopens: its stream continues after the last event seen.
    stream.start();
  };

  /** @param {string} text */
  const sendMessage = async (text) => {
    const entry = sentBubble(text, "sending");
    const key = randomKey();
    unread.push({ text, entry, logged: false, key });
    followText.value = "";
    if (!ctx.connection.reachable) {
      queue(entry, text, key);
      return;
    }
    try {
      delivered(entry, await ctx.api.command("POST", `${base}/messages`, { text }, { key }));
    } catch (err) {
      if (err instanceof Unreachable) {
        queue(entry, text, key); // the same key: if the first try did arrive, it acts once
        return;
      }
      markSent(entry, "failed");
      unread.splice(unread.findIndex((item) => item.entry === entry), 1);
      if (!followText.value) followText.value = text;
      showProblem(`Could not send: ${message(err)}`, err);
    }
  };

  /**
   * @param {HTMLElement} entry
   * @param {string} text
   * @param {string} key
   */
  const queue = (entry, text, key) => {
    markSent(entry, "queued");
    ctx.outbox.add({ taskId, text, key });
  };

  /** @param {Event} event */
  const onOutbox = (event) => {
    const detail = /** @type {CustomEvent} */ (event).detail;
    if (detail?.taskId !== taskId) return;
    const item = unread.find((other) => other.key === detail.key);
    if (!item) return;
    if (event.type === "sent") {
      delivered(item.entry, detail.task);
    } else {
      markSent(item.entry, "failed");
      unread.splice(unread.indexOf(item), 1);
      showProblem(`Could not send: ${detail.message}`);
    }
  };
  ctx.outbox.addEventListener("sent", onOutbox);
  ctx.outbox.addEventListener("failed", onOutbox);

  followForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = followText.value.trim();
    if (!text) return;
    followSend.setAttribute("disabled", "");
    try {
      if (!(await answerQuestion(text))) await sendMessage(text);
    } finally {
      followSend.removeAttribute("disabled");
    }
  });

  void (async () => {
    // What this phone showed before comes at once (and without the computer); the stream
    // then continues after it.
    const kept = await recallTranscript(taskId);
    if (closed) return;
    if (kept && Array.isArray(kept.events) && !seen.length) {
      if (kept.task && !task) {
        task = kept.task;
        renderHeader();
      }
      for (const event of kept.events) stream.deliver(event);
    }
    for (const item of ctx.outbox.queuedFor(taskId)) {
      if (unread.some((other) => other.key === item.key)) continue;
      unread.push({ text: item.text, entry: sentBubble(item.text, "queued"), logged: false, key: item.key });
    }
    void refreshTask();
    stream.start();
  })();
  return () => {
    closed = true;
    keepNow();
    window.removeEventListener("scroll", onScroll);
    ctx.connection.removeEventListener("change", onConnection);
    ctx.outbox.removeEventListener("sent", onOutbox);
    ctx.outbox.removeEventListener("failed", onOutbox);
    stream.stop();
    closeFiles?.();
  };
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
 * @param {...HTMLElement} content
 */
function bubble(who, ...content) {
  return h("li", { class: `entry bubble ${who}` },
    h("span", { class: "visually-hidden", text: who === "user" ? "You:" : "Errand:" }), content);
}

/** @type {Record<string, string>} */
const SENT_STATES = { sending: "sending…", queued: "Queued — sends when your computer is back", sent: "sent", failed: "not sent", "": "" };

/**
 * @param {HTMLElement} entry  a user bubble
 * @param {string} state  "sending", "queued" (kept on the phone until the computer is back),
 *   "sent" (stored, the task has not read it yet), "failed" or ""
 */
function markSent(entry, state) {
  entry.dataset.state = state;
  const line = entry.querySelector(".sent-state");
  if (line) line.textContent = SENT_STATES[state] ?? state;
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
      payload.arguments === undefined ? null : [
        h("p", { class: "label", text: "Arguments" }),
        h("pre", { class: "arguments", text: prettyJson(String(payload.arguments)) })]));
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
  // A failed step says why without being opened: its first line, beside the closed card.
  const why = error ? String(payload.content ?? "").trim().split("\n")[0] : "";
  if (why) entry.appendChild(h("p", { class: "tool-error", text: why.length > 240 ? `${why.slice(0, 239)}…` : why }));
  const seconds = Number(payload.duration);
  state.textContent = `${error ? "error" : "done"}${Number.isFinite(seconds) ? ` · ${seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`}` : ""}`;
  details.appendChild(h("p", { class: "label", text: error ? "Error" : "Result" }));
  details.appendChild(h("pre", { class: "result", text: String(payload.content ?? "") }));
  if (payload.truncated) details.appendChild(h("p", { class: "hint", text: "(cut short)" }));
  const files = Array.isArray(payload.files) ? payload.files : [];
  if (files.length) details.appendChild(h("p", { class: "hint", text: `Files: ${files.join(", ")}` }));
}

/**
 * Text still streaming, with a trailing delimiter that has no partner yet (`**bo`, a lone
 * backtick) left out, so the reader never sees raw Markdown flash before it renders.
 * @param {string} text
 */
export function settledMarkdown(text) {
  let settled = text;
  if ((settled.match(/```/g) ?? []).length % 2 === 1) settled += "\n```";
  for (const mark of ["**", "__", "~~"]) {
    const count = settled.split(mark).length - 1;
    if (count % 2 === 1) {
      const at = settled.lastIndexOf(mark);
      settled = settled.slice(0, at) + settled.slice(at + mark.length);
    }
  }
  const line = settled.slice(settled.lastIndexOf("\n") + 1);
  const ticks = (line.replace(/```/g, "").match(/`/g) ?? []).length;
  if (ticks % 2 === 1) {
    const at = settled.lastIndexOf("`");
    settled = settled.slice(0, at) + settled.slice(at + 1);
  }
  return settled;
}
