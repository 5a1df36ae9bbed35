// A live event stream that survives dropped connections.
//
// Contract: `LiveStream` GETs `path` as SSE with the device token in a header and calls
// `onEvent` for each event. When the connection drops it reconnects with backoff (sooner when
// the network comes back or the app returns to the foreground, via Connection.kick), sending
// `Last-Event-ID` with the last id it saw, so the server sends exactly what was missed. Events
// whose numeric id is not above the last one seen are dropped here, so the caller sees each
// event once and in order even if a server repeats itself. A silent connection (no data and
// no keepalive for STALL_MS) counts as dropped. `onEnd` is asked after the server closes the
// stream cleanly: returning true stops, false reconnects. A 401, 403 or 404 stops it for good.

import { ApiError, backoff, pause } from "./api.js";
import { readEvents } from "./sse.js";

const STALL_MS = 45_000;

/** @typedef {import("./sse.js").SseEvent} SseEvent */

export class LiveStream {
  /**
   * @param {import("./api.js").Api} api
   * @param {string} path
   * @param {{onEvent: (event: SseEvent) => void, onOpen?: () => void, onEnd?: () => boolean, onFatal?: (err: ApiError) => void, lastEventId?: string | null, resume?: boolean}} handlers
   *   `resume: false` for a stream whose ids do not number one log (it then neither sends
   *   Last-Event-ID nor drops events; the caller reloads on `onOpen` instead)
   */
  constructor(api, path, handlers) {
    this.api = api;
    this.path = path;
    this.handlers = handlers;
    /** @type {string | null} */
    this.lastEventId = handlers.lastEventId ?? null;
    this.stopped = true;
    /** @type {AbortController | null} */
    this.controller = null;
    this.running = false;
  }

  start() {
    this.stopped = false;
    if (!this.running) void this.run();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  /** Drop the current connection and open a new one at once (it resumes where it was). */
  restart() {
    this.controller?.abort();
    this.start();
    this.api.connection.kick();
  }

  async run() {
    this.running = true;
    let attempt = 0;
    const drop = () => this.controller?.abort();
    this.api.connection.addEventListener("drop", drop);
    try {
      while (!this.stopped) {
        const controller = new AbortController();
        this.controller = controller;
        let stall = 0;
        const watch = () => {
          clearTimeout(stall);
          stall = window.setTimeout(() => controller.abort(), STALL_MS);
        };
        let clean = false;
        try {
          /** @type {Record<string, string>} */
          const headers = { Accept: "text/event-stream" };
          if (this.lastEventId !== null && this.handlers.resume !== false) headers["Last-Event-ID"] = this.lastEventId;
          watch();
          const response = await this.api.fetch("GET", this.path, { signal: controller.signal, headers });
          attempt = 0;
          this.handlers.onOpen?.();
          await readEvents(response, (event) => this.deliver(event), watch);
          clean = true;
        } catch (err) {
          if (err instanceof ApiError && [401, 403, 404].includes(err.status)) {
            this.stopped = true;
            this.handlers.onFatal?.(err);
            break;
          }
        } finally {
          clearTimeout(stall);
        }
        if (this.stopped) break;
        if (clean && this.handlers.onEnd?.()) {
          this.stopped = true;
          break;
        }
        if (!clean) {
          attempt += 1;
          const wait = backoff(attempt);
          this.api.connection.lost(Date.now() + wait);
          await pause(this.api.connection, wait);
        } else {
          await pause(this.api.connection, 1000);
        }
      }
    } finally {
      this.api.connection.removeEventListener("drop", drop);
      this.running = false;
    }
  }

  /** @param {SseEvent} event */
  deliver(event) {
    if (this.handlers.resume === false) {
      this.handlers.onEvent(event);
      return;
    }
    if (event.id !== null && /^\d+$/.test(event.id) && this.lastEventId !== null && /^\d+$/.test(this.lastEventId)) {
      if (Number(event.id) <= Number(this.lastEventId)) return;
    }
    if (event.id !== null) this.lastEventId = event.id;
    this.handlers.onEvent(event);
  }
}
