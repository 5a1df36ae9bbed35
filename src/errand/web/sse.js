// Server-Sent Events read with fetch, so the device token travels in a header, never a URL.
//
// `SseParser` is pure: feed it decoded text in any chunking and it returns whole events
// ({id, event, data}) in order, following the SSE field rules (LF, CRLF or CR line ends;
// comment lines start with ":"; several data lines join with "\n"; an event is dispatched at a
// blank line, and one with no data is dropped). `readEvents` drives it over a Response body.

/** @typedef {{id: string | null, event: string, data: string}} SseEvent */

const MAX_PENDING_CHARS = 4 * 1024 * 1024;

export class SseParser {
  constructor() {
    this.pending = "";
    /** @type {string[]} */
    this.data = [];
    this.event = "";
    /** @type {string | null} */
    this.id = null;
    /** The last id seen, which a reconnect sends as Last-Event-ID. */
    /** @type {string | null} */
    this.lastEventId = null;
  }

  /**
   * @param {string} chunk
   * @returns {SseEvent[]}
   */
  push(chunk) {
    this.pending += chunk;
    if (this.pending.length > MAX_PENDING_CHARS) {
      throw new Error("event stream line too long");
    }
    /** @type {SseEvent[]} */
    const out = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.pending);
      if (!match) break;
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (match[0] === "\r" && match.index === this.pending.length - 1) break;
      const line = this.pending.slice(0, match.index);
      this.pending = this.pending.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  /**
   * @param {string} line
   * @returns {SseEvent | null}
   */
  line(line) {
    if (line === "") {
      const hasData = this.data.length > 0;
      const event = { id: this.id ?? this.lastEventId, event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      this.id = null;
      return hasData ? event : null;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) {
      this.id = value;
      this.lastEventId = value;
    }
    return null;
  }
}

/**
 * Read `response`'s body as SSE, calling `onEvent` for each event until the body ends.
 * Resolves when the server closes the stream; rejects on a network error or abort.
 * @param {Response} response
 * @param {(event: SseEvent) => void} onEvent
 * @param {() => void} [onActivity]  called for every chunk, keepalive comments included
 */
export async function readEvents(response, onEvent, onActivity) {
  if (!response.body) throw new Error("the response has no body");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onActivity?.();
      for (const event of parser.push(decoder.decode(value, { stream: true }))) onEvent(event);
    }
    // An event cut off by the end of the stream is dropped, as the SSE rules say; the
    // reconnect's Last-Event-ID brings it again whole.
  } finally {
    reader.releaseLock();
  }
}
