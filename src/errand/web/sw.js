// The service worker: keeps the app shell so the app opens without a connection (and can
// then say honestly that the computer is unreachable), and shows pushes from the computer.
//
// Pushes carry {"id", "kind", "heading", "title", "task_id", "url"} and nothing else; the
// notification's tag is the id, so a push sent twice (after a crash) shows once. Tapping it
// opens the task (`#/tasks/<id>`, where the app lands on the card that needs you): in an
// open window of the app when there is one, else in a new one.
//
// Contract: only same-origin GETs for the shell files (and page navigations, answered with
// the shell) are cached. API calls, streams, downloads and anything carrying an
// Authorization header are never touched: they always go to the network, so no task data or
// token ever lands in a cache (what the app shows offline, it keeps itself: offline.js).
// The shell is fetched network-first, so an updated gateway serves its new app at once; the
// cache is the fallback.

const CACHE = "errand-shell-v3";
const SHELL = [
  "/",
  "/index.html",
  "/style.css",
  "/app.js",
  "/api.js",
  "/cards.js",
  "/dom.js",
  "/device.js",
  "/files.js",
  "/markdown.js",
  "/new-task.js",
  "/notices.js",
  "/offline.js",
  "/outbox.js",
  "/pair.js",
  "/push.js",
  "/push-offer.js",
  "/push-settings.js",
  "/schedules.js",
  "/sse.js",
  "/stream.js",
  "/task-list.js",
  "/task-view.js",
  "/manifest.webmanifest",
  "/icon.svg",
  "/icon-maskable.svg",
  "/icon-192.png",
  "/icon-512.png",
];
const SHELL_PATHS = new Set(SHELL);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/health" || request.headers.has("Authorization")) return;
  const navigation = request.mode === "navigate";
  if (!navigation && !SHELL_PATHS.has(url.pathname)) return;
  event.respondWith(shell(request, navigation));
});

/**
 * @param {Request} request
 * @param {boolean} navigation  pages (/, /pair) all answer with the shell's index.html
 */
async function shell(request, navigation) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !navigation) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(navigation ? "/index.html" : request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("push", (event) => {
  /** @type {any} */
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const heading = typeof data.heading === "string" ? data.heading : "News";
  const title = typeof data.title === "string" ? data.title : "";
  event.waitUntil(self.registration.showNotification(`Errand: ${heading}`, {
    body: title,
    tag: typeof data.id === "string" ? data.id : undefined,
    icon: "/icon-192.png",
    badge: "/icon-192.png",
    data: { url: appPath(data.url) },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const opening = openInApp(appPath(event.notification.data?.url));
  try {
    event.waitUntil(opening);
  } catch {
    // Only a click the browser itself dispatched may extend its life; the opening goes on.
  }
});

/**
 * Only a path inside the app, never another site, whatever a payload says.
 * @param {unknown} path
 */
function appPath(path) {
  return typeof path === "string" && /^\/#\/[A-Za-z0-9_\/-]*$/.test(path) ? path : "/#/";
}

/** @param {string} path */
async function openInApp(path) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    open.postMessage({ type: "open", hash: path.slice(1) });
    return open.focus();
  }
  return self.clients.openWindow(path);
}
