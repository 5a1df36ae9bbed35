// Talking to the computer: the HTTP API under /api/v1 (docs/api.md), the device's session
// in localStorage, and whether the computer can be reached right now.
//
// Contracts:
// - The device token is read from localStorage and sent only as `Authorization: Bearer`.
// - `Api.request` resolves with the decoded JSON (or null for 204); it rejects with ApiError
//   for an answer with an error status, and with Unreachable when no answer came at all.
//   A 401 on an authenticated call clears the session and calls `onRevoked` once.
// - `Api.command` sends one state-changing call with an Idempotency-Key made once and reused
//   on every retry, so a retry after a dropped connection acts once on the computer.

import { randomKey } from "./dom.js";
import { forgetAll } from "./offline.js";

const API = "/api/v1";
const TOKEN_KEY = "errand.token";
const DEVICE_KEY = "errand.device";
const MAX_COMMAND_TRIES = 4;

/** @typedef {{id: string, name: string}} Device */

export const session = {
  /** @returns {string | null} */
  token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  /** @returns {Device | null} */
  device() {
    try {
      const value = JSON.parse(localStorage.getItem(DEVICE_KEY) ?? "null");
      return value && typeof value.id === "string" ? value : null;
    } catch {
      return null;
    }
  },
  /**
   * @param {string} token
   * @param {Device} device
   */
  save(token, device) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(DEVICE_KEY, JSON.stringify({ id: device.id, name: device.name }));
  },
  /** Forget this device here: its token and everything else the app kept (the push offer,
   * queued messages, the tasks and transcripts kept for reading offline). */
  clear() {
    localStorage.clear();
    sessionStorage.clear();
    forgetAll();
  },
};

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Unreachable extends Error {}

/** Whether the computer answered lately; the banner and the streams follow it. */
export class Connection extends EventTarget {
  constructor() {
    super();
    this.reachable = true;
    /** @type {number | null} when the next automatic retry happens (ms since epoch) */
    this.retryAt = null;
  }

  ok() {
    if (this.reachable && this.retryAt === null) return;
    this.reachable = true;
    this.retryAt = null;
    this.dispatchEvent(new Event("change"));
  }

  /** @param {number | null} retryAt */
  lost(retryAt) {
    this.reachable = false;
    this.retryAt = retryAt;
    this.dispatchEvent(new Event("change"));
  }

  /** The device went offline: open streams drop their connection now instead of hanging
   * until their stall timer fires, and the banner shows at once. */
  drop() {
    this.lost(null);
    this.dispatchEvent(new Event("drop"));
  }

  /** Ask every waiting stream and retry to try again now (network back, app in front). */
  kick() {
    this.dispatchEvent(new Event("kick"));
  }
}

/**
 * Wait `ms`, or less if the connection is kicked or `signal` aborts.
 * @param {Connection} connection
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
export function pause(connection, ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      connection.removeEventListener("kick", done);
      signal?.removeEventListener("abort", done);
      resolve(undefined);
    };
    const timer = setTimeout(done, ms);
    connection.addEventListener("kick", done);
    signal?.addEventListener("abort", done);
  });
}

/**
 * Delay before retry number `attempt` (1, 2, ...): 1 s doubling to 30 s, with jitter so a
 * fleet of reconnecting tabs does not arrive all at once.
 * @param {number} attempt
 */
export function backoff(attempt) {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export class Api {
  /**
   * @param {Connection} connection
   * @param {() => void} onRevoked
   */
  constructor(connection, onRevoked) {
    this.connection = connection;
    this.onRevoked = onRevoked;
  }

  /**
   * @param {string} method
   * @param {string} path  under /api/v1
   * @param {{body?: unknown, file?: Blob, key?: string, signal?: AbortSignal, auth?: boolean, headers?: Record<string, string>}} [options]
   *   `file` is sent as the raw body (an upload), `body` as JSON
   * @returns {Promise<Response>}
   */
  async fetch(method, path, options = {}) {
    const auth = options.auth ?? true;
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json", ...(options.headers ?? {}) };
    const token = session.token();
    if (auth) {
      if (!token) {
        this.revoked();
        throw new ApiError(401, "unauthorized", "This device is not paired.");
      }
      headers.Authorization = `Bearer ${token}`;
    }
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.file !== undefined) headers["Content-Type"] = "application/octet-stream";
    if (options.key) headers["Idempotency-Key"] = options.key;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: options.file ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        signal: options.signal,
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      this.connection.lost(null);
      throw new Unreachable("Can't reach your computer.");
    }
    if (response.status >= 500 && response.status !== 501) {
      // A proxy in front of a stopped server answers 502/503/504: the computer is away.
      this.connection.lost(null);
      throw new Unreachable("Can't reach your computer.");
    }
    this.connection.ok();
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401 && auth) this.revoked();
      throw error;
    }
    return response;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, file?: Blob, key?: string, signal?: AbortSignal, auth?: boolean}} [options]
   * @returns {Promise<any>}
   */
  async request(method, path, options = {}) {
    const response = await this.fetch(method, path, options);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  /**
   * A POST or DELETE that acts once: one Idempotency-Key, retried on Unreachable.
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{auth?: boolean, key?: string, file?: Blob}} [options]  `key` continues an earlier
   *   attempt; `file` is sent as the raw body instead of `body`
   */
  async command(method, path, body, options = {}) {
    const key = options.key ?? randomKey();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.request(method, path, { body, file: options.file, key, auth: options.auth });
      } catch (err) {
        if (!(err instanceof Unreachable) || attempt >= MAX_COMMAND_TRIES) throw err;
        await pause(this.connection, backoff(attempt));
      }
    }
  }

  revoked() {
    const hadSession = session.token() !== null;
    session.clear();
    if (hadSession) this.onRevoked();
  }
}

/**
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
async function errorOf(response) {
  try {
    const body = await response.json();
    const error = body?.error;
    if (error && typeof error.code === "string") {
      return new ApiError(response.status, error.code, String(error.message ?? error.code));
    }
    if (typeof body?.detail === "string") return new ApiError(response.status, "error", body.detail);
  } catch {
    // Not JSON: fall through to a generic sentence.
  }
  return new ApiError(response.status, `http_${response.status}`, `The computer answered ${response.status}.`);
}
