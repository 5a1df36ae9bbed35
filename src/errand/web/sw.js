// The service worker: keeps the app shell so the app opens without a connection (and can
// then say honestly that the computer is unreachable).
//
// Contract: only same-origin GETs for the shell files (and page navigations, answered with
// the shell) are cached. API calls, streams, downloads and anything carrying an
// Authorization header are never touched: they always go to the network, so no task data or
// token ever lands in a cache. The shell is fetched network-first, so an updated gateway
// serves its new app at once; the cache is the fallback.

const CACHE = "errand-shell-v1";
const SHELL = [
  "/",
  "/index.html",
  "/style.css",
  "/app.js",
  "/api.js",
  "/dom.js",
  "/device.js",
  "/files.js",
  "/markdown.js",
  "/new-task.js",
  "/pair.js",
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
