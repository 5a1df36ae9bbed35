// Notifications on this phone (Web Push): whether this browser can have them, turning them
// on (permission, then a subscription made with the computer's VAPID key and handed to it),
// off, and which kinds of news it wants.
//
// Contract: the subscription goes to the computer only through PUT /push/subscription
// (the computer checks its endpoint is a real push service); nothing here is kept in
// localStorage, the browser's PushManager is the one record.

/** @typedef {{available: boolean, public_key: string | null, subscribed: boolean, kinds: string[], all_kinds: string[]}} PushState */

export const KIND_NAMES = /** @type {Record<string, string>} */ ({
  needs_you: "A task needs you (approval or question)",
  finished: "A task finished",
  failed: "A task failed",
});

export class PushProblem extends Error {}

/** Whether this browser can receive pushes at all (an iPhone only from the home-screen app). */
export function pushSupported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** On an iPhone or iPad, Safari offers pushes only to the app added to the home screen. */
export function needsHomeScreen() {
  return /iPhone|iPad/.test(navigator.userAgent) && !pushSupported();
}

/**
 * @param {import("./api.js").Api} api
 * @returns {Promise<PushState>}
 */
export function pushState(api) {
  return api.request("GET", "/push");
}

/**
 * Ask for permission (call from a tap: browsers refuse otherwise), subscribe, tell the computer.
 * @param {import("./api.js").Api} api
 * @returns {Promise<PushState>}
 */
export async function turnOn(api) {
  if (!pushSupported()) throw new PushProblem(needsHomeScreen() ? "On iPhone, add Errand to your home screen first (Share, then Add to Home Screen) and open it from there." : "This browser cannot show notifications.");
  const state = await pushState(api);
  if (!state.available || !state.public_key) throw new PushProblem("Notifications are turned off on your computer.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new PushProblem("Notifications are blocked for this site. Allow them in the browser's site settings, then try again.");
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  const key = decodeKey(state.public_key);
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    try {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    } catch {
      throw new PushProblem("This browser could not reach its push service. Check the connection and try again.");
    }
  }
  return api.command("PUT", "/push/subscription", subscription.toJSON());
}

/** @param {import("./api.js").Api} api */
export async function turnOff(api) {
  if (pushSupported()) {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    await subscription?.unsubscribe();
  }
  await api.command("DELETE", "/push/subscription");
}

/**
 * @param {import("./api.js").Api} api
 * @param {string[]} kinds
 * @returns {Promise<PushState>}
 */
export function chooseKinds(api, kinds) {
  return api.command("PUT", "/push/kinds", { kinds });
}

/** @param {string} text URL-safe base64 */
function decodeKey(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/**
 * @param {PushSubscription} subscription
 * @param {Uint8Array} key
 */
function sameKey(subscription, key) {
  const current = subscription.options?.applicationServerKey;
  if (!current) return true;
  const bytes = new Uint8Array(current);
  return bytes.length === key.length && bytes.every((b, i) => b === key[i]);
}
