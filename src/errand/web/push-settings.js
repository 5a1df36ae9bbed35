// The "Notifications" part of This device: on or off for this phone, and which kinds of news
// it wants (each a switch, saved at once on the computer).

import { ApiError, Unreachable } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { KIND_NAMES, PushProblem, chooseKinds, needsHomeScreen, pushState, pushSupported, turnOff, turnOn } from "./push.js";

/**
 * @param {import("./app.js").AppContext} ctx
 * @returns {HTMLElement}
 */
export function pushSettings(ctx) {
  const body = h("div", { class: "push-body" }, h("p", { class: "hint", text: "Loading…" }));
  const section = h("section", { class: "push-settings", "aria-labelledby": "push-title" },
    h("h2", { id: "push-title", text: "Notifications" }), body);

  /** @param {import("./push.js").PushState | null} state @param {string} [message] */
  const render = (state, message) => {
    const status = h("p", { class: "hint push-status", role: "status", text: message ?? "", hidden: !message });
    if (!pushSupported()) {
      replaceChildren(body, h("p", { class: "hint", text: needsHomeScreen()
        ? "On iPhone (iOS 16.4 or later), notifications work in the app added to the home screen: Share, then Add to Home Screen, then open Errand from there."
        : "This browser cannot show notifications." }));
      return;
    }
    if (!state) {
      replaceChildren(body, status);
      return;
    }
    if (!state.available) {
      replaceChildren(body, h("p", { class: "hint", text: "Notifications are turned off on your computer." }));
      return;
    }
    if (!state.subscribed) {
      const on = h("button", { type: "button", class: "primary", text: "Turn on notifications" });
      on.addEventListener("click", () => void act(on, () => turnOn(ctx.api)));
      replaceChildren(body, h("p", { text: "Get a notification on this phone when a task needs you, finishes or fails. Nothing from the task's work is sent, only its title." }), on, status);
      return;
    }
    const switches = state.all_kinds.map((kind) => {
      const box = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", id: `push-${kind}`, name: kind }));
      box.checked = state.kinds.includes(kind);
      box.addEventListener("change", () => {
        const kinds = switches.filter((b) => b.checked).map((b) => b.name);
        void act(box, () => chooseKinds(ctx.api, kinds));
      });
      return box;
    });
    const off = h("button", { type: "button", class: "secondary", text: "Turn off notifications" });
    off.addEventListener("click", () => void act(off, async () => { await turnOff(ctx.api); return pushState(ctx.api); }));
    replaceChildren(body,
      h("ul", { class: "push-kinds" }, ...switches.map((box) => h("li", {}, box, h("label", { for: box.id, text: KIND_NAMES[box.name] ?? box.name })))),
      off, status);
  };

  /**
   * @param {HTMLElement} control
   * @param {() => Promise<import("./push.js").PushState>} work
   */
  const act = async (control, work) => {
    control.setAttribute("disabled", "");
    try {
      render(await work());
    } catch (err) {
      const message = err instanceof PushProblem || err instanceof ApiError ? err.message
        : err instanceof Unreachable ? "Can't reach your computer; try again when it is reachable." : "That did not work; try again.";
      try {
        render(await pushState(ctx.api), message);
      } catch {
        render(null, message);
      }
    }
  };

  void pushState(ctx.api).then((state) => render(state), () => render(null, "Can't reach your computer to read this phone's notifications."));
  return section;
}
