// Right after pairing, offer notifications once, with the reason in one sentence. The
// browser's permission prompt appears only when the user taps "Turn on" (browsers, iPhones
// most of all, refuse to ask without a tap).

import { h } from "./dom.js";
import { PushProblem, needsHomeScreen, pushSupported, turnOn } from "./push.js";

const OFFERED_KEY = "errand.push-offered";

/** @param {import("./app.js").AppContext} ctx */
export function offerPush(ctx) {
  if (localStorage.getItem(OFFERED_KEY)) return;
  const supported = pushSupported();
  if (!supported && !needsHomeScreen()) return;
  if (supported && Notification.permission === "denied") return;
  localStorage.setItem(OFFERED_KEY, "1");
  const status = h("p", { class: "hint", role: "status", hidden: true });
  const close = () => card.remove();
  const turnOnButton = h("button", { type: "button", class: "primary", text: "Turn on notifications" });
  const card = h("section", { class: "push-offer notice", "aria-labelledby": "push-offer-title" },
    h("h2", { id: "push-offer-title", text: "Know when a task needs you" }),
    h("p", { text: "Approvals expire after a few minutes. A notification on this phone lets you answer in time, even with the app closed." }),
    status,
    supported
      ? h("div", { class: "push-offer-actions" }, turnOnButton, h("button", { type: "button", class: "secondary", text: "Not now", onclick: close }))
      : h("p", { class: "hint", text: "On iPhone, add Errand to your home screen first (Share, then Add to Home Screen), open it from there, and turn notifications on under This device." }));
  if (!supported) card.appendChild(h("button", { type: "button", class: "secondary", text: "OK", onclick: close }));
  turnOnButton.addEventListener("click", async () => {
    turnOnButton.setAttribute("disabled", "");
    try {
      await turnOn(ctx.api);
      status.textContent = "Notifications are on. Choose which under This device.";
      status.hidden = false;
      window.setTimeout(close, 2500);
    } catch (err) {
      status.textContent = err instanceof PushProblem ? err.message : "Could not turn notifications on. Try again under This device.";
      status.hidden = false;
      turnOnButton.removeAttribute("disabled");
    }
  });
  const main = document.getElementById("app");
  document.body.insertBefore(card, main);
}
