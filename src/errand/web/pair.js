// Pairing this phone with the computer (PAIRING.md, "Pairing flow").
//
// With a secret from the QR link: ask for a device name, claim the code (POST /pair), show
// the 6-digit confirmation number the computer's terminal shows too, then long-poll
// /pair/{claim_id}/wait until the owner answers. The device token that comes back is stored
// and the task list opens. Every failure says what to do next. Without a secret: explain how
// to get one.

import { ApiError, Unreachable, backoff, pause, session } from "./api.js";
import { h, randomKey, replaceChildren } from "./dom.js";

const NEW_CODE = "Run “errand pair” on your computer for a new code, then scan it.";

/** @type {Record<string, string>} */
const PAIRING_ERRORS = {
  pairing_invalid: `This pairing code is not valid (mistyped or incomplete link). ${NEW_CODE}`,
  pairing_expired: `This pairing code has expired (codes last 5 minutes). ${NEW_CODE}`,
  pairing_used: `This pairing code was already used. ${NEW_CODE}`,
  pairing_locked: "Pairing is locked for a while after too many failed tries. Wait 15 minutes, then run “errand pair” on your computer.",
  pairing_refused: `The computer did not confirm this phone. ${NEW_CODE}`,
  device_limit: "The computer has as many paired devices as it allows. Remove one with “errand devices revoke <id>” on the computer, then pair again.",
};

const MAX_WAIT_POLLS = 40;

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @param {{secret: string | null, notice: string | null}} options
 * @returns {() => void}
 */
export function showPairing(root, ctx, options) {
  let closed = false;
  const screen = h("section", { class: "screen pairing", "aria-labelledby": "pair-title" });
  root.appendChild(screen);
  const noticeBox = options.notice ? h("p", { class: "notice warn", role: "alert", text: options.notice }) : null;

  if (options.secret === null) {
    replaceChildren(
      screen,
      h("h1", { id: "pair-title", text: "Pair this phone" }),
      noticeBox,
      h("p", { text: "Errand runs on your computer. To control it from this phone:" }),
      h("ol", { class: "steps" },
        h("li", { text: "On your computer, run “errand serve” (or “errand pair” if it is already running)." }),
        h("li", { text: "Scan the QR code it shows with this phone's camera." }),
        h("li", { text: "Check that the number shown here matches the one on the computer, and confirm there." })),
    );
    return () => {};
  }

  const secret = options.secret;
  const input = h("input", {
    id: "device-name",
    name: "device-name",
    type: "text",
    maxlength: "60",
    autocomplete: "off",
    required: true,
    value: guessDeviceName(),
  });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", text: "Pair" });
  const form = h("form", { class: "stack", "aria-describedby": "pair-help" },
    h("label", { for: "device-name", text: "Name for this device" }),
    input,
    h("p", { id: "pair-help", class: "hint", text: "The computer will show this name and ask its owner to confirm." }),
    error,
    submit);
  replaceChildren(screen, h("h1", { id: "pair-title", text: "Pair with your computer" }), noticeBox, form);

  /** @param {string} message */
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
    submit.removeAttribute("disabled");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = /** @type {HTMLInputElement} */ (input).value.trim();
    if (!name) return fail("Give this device a name, e.g. \"Ana's phone\".");
    submit.setAttribute("disabled", "");
    error.hidden = true;
    let claim;
    try {
      claim = await ctx.api.command("POST", "/pair", { secret, device_name: name }, { auth: false });
    } catch (err) {
      return fail(describe(err));
    }
    if (closed) return;
    await waitForConfirmation(claim, name);
  });

  /**
   * @param {{claim_id: string, claim_token: string, confirmation: string}} claim
   * @param {string} name
   */
  async function waitForConfirmation(claim, name) {
    const status = h("p", { class: "hint", role: "status", text: "Waiting for the computer…" });
    const digits = h("p", { class: "confirmation", "aria-label": `Confirmation number ${claim.confirmation.split("").join(" ")}`, text: claim.confirmation });
    replaceChildren(
      screen,
      h("h1", { id: "pair-title", text: "Confirm on your computer" }),
      h("p", { text: `Your computer asks whether to pair "${name}". Check that it shows this number, then confirm there:` }),
      digits,
      status,
    );
    let failures = 0;
    for (let poll = 0; poll < MAX_WAIT_POLLS && !closed; poll += 1) {
      try {
        const answer = await ctx.api.request("POST", `/pair/${encodeURIComponent(claim.claim_id)}/wait`, {
          body: { claim_token: claim.claim_token },
          auth: false,
          // Each poll is its own request: a fresh key, so no poll is answered from another's replay.
          key: randomKey(),
        });
        failures = 0;
        if (answer && typeof answer.device_token === "string") {
          session.save(answer.device_token, answer.device);
          ctx.paired();
          return;
        }
      } catch (err) {
        if (err instanceof Unreachable) {
          failures += 1;
          status.textContent = "Can't reach your computer. Trying again…";
          await pause(ctx.connection, backoff(failures));
          continue;
        }
        const box = h("p", { class: "error", role: "alert", text: describe(err) });
        replaceChildren(screen, h("h1", { id: "pair-title", text: "Pairing did not finish" }), box);
        return;
      }
    }
    if (!closed) {
      replaceChildren(screen, h("h1", { id: "pair-title", text: "Pairing did not finish" }),
        h("p", { class: "error", role: "alert", text: `Nobody confirmed on the computer in time. ${NEW_CODE}` }));
    }
  }

  return () => {
    closed = true;
  };
}

/** @param {unknown} err */
function describe(err) {
  if (err instanceof ApiError) return PAIRING_ERRORS[err.code] ?? `${err.message} ${NEW_CODE}`;
  if (err instanceof Unreachable) return "Can't reach your computer. Check that this phone can reach it (same Tailscale network, or the link it printed), then try again.";
  return `Something went wrong. ${NEW_CODE}`;
}

function guessDeviceName() {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return "iPhone";
  if (/iPad/.test(ua)) return "iPad";
  if (/Android/.test(ua)) return "Android phone";
  return "Phone";
}
