// The app's entry: which screen shows, the "can't reach your computer" banner, and the
// triggers that make waiting streams try again (network back, app back in front).
//
// Screens are chosen from the address: `/pair#v1.<secret>` pairs (the fragment is read once
// and removed from the address bar at once); without a device token the pairing screen shows;
// otherwise the fragment routes: `#/` task list, `#/new`, `#/tasks/<id>`, `#/device`, `#/schedules`.

import { Api, Connection, session } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { showDevice } from "./device.js";
import { showNewTask } from "./new-task.js";
import { startNotices } from "./notices.js";
import { Outbox } from "./outbox.js";
import { showPairing } from "./pair.js";
import { offerPush } from "./push-offer.js";
import { showSchedules } from "./schedules.js";
import { showTask } from "./task-view.js";
import { showTaskList } from "./task-list.js";

/** @typedef {{api: Api, connection: Connection, outbox: Outbox, go: (hash: string) => void, replace: (hash: string) => void, paired: () => void}} AppContext */

const connection = new Connection();
/** @type {string | null} */
let notice = null;
/** @type {string | null} the pairing secret from the QR link, kept only in memory */
let pairingSecret = null;
/** @type {(() => void) | null} */
let cleanup = null;

const api = new Api(connection, () => {
  notice = "This device was removed. To use Errand here again, run “errand pair” on your computer and scan the new code.";
  history.replaceState(null, "", "/pair");
  route();
});

const outbox = new Outbox(api);

/** @type {AppContext} */
const ctx = {
  api,
  connection,
  outbox,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  /** Show `hash` in place of the current screen, so Back skips it (a sent form). */
  replace(hash) {
    history.replaceState(null, "", hash);
    route();
  },
  paired() {
    const justPaired = pairingSecret !== null;
    notice = null;
    pairingSecret = null;
    history.replaceState(null, "", "/");
    route();
    notices.restart();
    if (justPaired && session.token()) offerPush(ctx);
  },
};

function readPairingLink() {
  const match = /^#(v1\.[A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return;
  pairingSecret = match[1];
  // The secret must not linger in the address bar, history or a bookmark.
  history.replaceState(null, "", location.pathname.endsWith("/pair") ? location.pathname : "/pair");
}

function route() {
  cleanup?.();
  cleanup = null;
  const root = /** @type {HTMLElement} */ (document.getElementById("app"));
  replaceChildren(root);
  window.scrollTo(0, 0);
  if (pairingSecret !== null || !session.token()) {
    cleanup = showPairing(root, ctx, { secret: pairingSecret, notice });
    return;
  }
  if (location.pathname.endsWith("/pair")) history.replaceState(null, "", "/");
  const hash = location.hash;
  const task = /^#\/tasks\/([A-Za-z0-9_-]+)$/.exec(hash);
  if (task) cleanup = showTask(root, ctx, task[1]);
  else if (hash === "#/new") cleanup = showNewTask(root, ctx);
  else if (hash === "#/device") cleanup = showDevice(root, ctx);
  else if (hash === "#/schedules") cleanup = showSchedules(root, ctx);
  else cleanup = showTaskList(root, ctx);
}

function setUpBanner() {
  const banner = /** @type {HTMLElement} */ (document.getElementById("banner"));
  let ticker = 0;
  const render = () => {
    clearInterval(ticker);
    if (connection.reachable) {
      banner.hidden = true;
      banner.classList.remove("offline");
      return;
    }
    const draw = () => {
      const seconds = connection.retryAt === null ? 0 : Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000));
      replaceChildren(
        banner,
        h("span", { class: "banner-text", text: seconds > 0 ? `Can't reach your computer. Trying again in ${seconds} s.` : "Can't reach your computer. Trying again…" }),
        h("button", { type: "button", class: "small", onclick: () => connection.kick(), text: "Retry now" }),
      );
    };
    draw();
    ticker = window.setInterval(draw, 1000);
    banner.hidden = false;
    banner.classList.add("offline");
  };
  connection.addEventListener("change", render);
  render();
}

/** Plain HTTP beyond this computer (LAN mode) can be read by a network neighbour: say so. */
function warnIfUnencrypted() {
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  if (location.protocol !== "http:" || loopback) return;
  document.body.prepend(h("p", {
    class: "lan-warning",
    role: "note",
    text: "This connection is not encrypted (LAN mode): someone on your network could read it. Tailscale keeps it private.",
  }));
}

readPairingLink();
warnIfUnencrypted();
setUpBanner();
window.addEventListener("hashchange", route);
window.addEventListener("online", () => connection.kick());
window.addEventListener("offline", () => connection.drop());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") connection.kick();
});
route();
const notices = startNotices(ctx);
if (session.token()) void outbox.flush(); // messages queued before the app last closed

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // Without the worker the app still works; it just does not open offline.
  });
  // A tapped notification asks an open window to show its task.
  navigator.serviceWorker.addEventListener("message", (event) => {
    const hash = event.data?.type === "open" ? String(event.data.hash ?? "") : "";
    if (/^#\/[A-Za-z0-9_/-]*$/.test(hash)) ctx.go(hash);
  });
  navigator.serviceWorker.startMessages();
}
