// This device: its name and pairing dates, its notifications (push-settings.js), and
// "forget this device", which revokes its token on the computer (DELETE /devices/{id}) and
// then clears everything stored here.
// Below it, the computer's MCP servers and the state each was last seen in (GET /mcp).

import { Unreachable, session } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { pushSettings } from "./push-settings.js";
import { shortTime } from "./task-list.js";

/**
 * @param {HTMLElement} root
 * @param {import("./app.js").AppContext} ctx
 * @returns {() => void}
 */
export function showDevice(root, ctx) {
  let closed = false;
  const stored = session.device();
  const details = h("dl", { class: "device-details" },
    h("dt", { text: "Name" }), h("dd", { class: "device-name", text: stored?.name ?? "This device" }));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const mcpList = h("ul", { class: "mcp-servers" });
  const mcpSection = h("section", { class: "mcp", hidden: true },
    h("h2", { text: "MCP servers" }), mcpList);
  const forget = h("button", { type: "button", class: "danger", text: "Forget this device" });
  const confirmBox = h("div", { class: "confirm", hidden: true },
    h("p", { text: "This phone will no longer reach your computer. To use it again, you will pair it again." }),
    h("button", { type: "button", class: "secondary", text: "Keep it", onclick: () => { confirmBox.hidden = true; forget.hidden = false; } }),
    h("button", { type: "button", class: "danger", text: "Forget it", onclick: () => void doForget() }));

  root.appendChild(h("section", { class: "screen device" },
    h("header", { class: "bar" },
      h("a", { class: "icon-button", href: "#/", "aria-label": "Back to tasks", title: "Back to tasks", text: "‹" }),
      h("h1", { text: "This device" })),
    details, pushSettings(ctx), error, forget, confirmBox, mcpSection));

  forget.addEventListener("click", () => {
    forget.hidden = true;
    confirmBox.hidden = false;
  });

  const doForget = async () => {
    const id = session.device()?.id;
    try {
      if (id) await ctx.api.command("DELETE", `/devices/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof Unreachable) {
        error.textContent = "Can't reach your computer, so it would still trust this phone. Try again when it is reachable, or run “errand devices revoke” there.";
        error.hidden = false;
        return;
      }
      // Any other answer (401 included) means the token is no use anymore: forget it here.
    }
    session.clear();
    ctx.paired();
  };

  void (async () => {
    try {
      const answer = await ctx.api.request("GET", "/devices");
      if (closed) return;
      const current = answer.devices.find((/** @type {any} */ d) => d.current) ?? answer.devices.find((/** @type {any} */ d) => d.id === stored?.id);
      if (!current) return;
      replaceChildren(details,
        h("dt", { text: "Name" }), h("dd", { class: "device-name", text: String(current.name) }),
        h("dt", { text: "Paired" }), h("dd", { text: shortTime(current.created_at) }),
        h("dt", { text: "Last used" }), h("dd", { text: shortTime(current.last_seen_at) }),
        h("dt", { text: "Device id" }), h("dd", { class: "mono", text: String(current.id) }));
    } catch {
      // The stored name stays; the banner tells when the computer is away.
    }
  })();

  void (async () => {
    try {
      const answer = await ctx.api.request("GET", "/mcp");
      if (closed || answer.servers.length === 0) return;
      replaceChildren(mcpList, ...answer.servers.map((/** @type {any} */ s) => mcpServer(s)));
      mcpSection.hidden = false;
    } catch {
      // Without the list the screen still works.
    }
  })();

  return () => {
    closed = true;
  };
}

/**
 * One server's line: its name, and its state in words (a failure with its reason).
 * @param {{name: string, state: string, tools: number, reason: string | null, skipped: string[]}} server
 */
function mcpServer(server) {
  /** @type {Record<string, string>} */
  const words = {
    not_started: "not started yet",
    starting: "starting…",
    ready: `ready with ${server.tools} tool${server.tools === 1 ? "" : "s"}`,
    failed: `failed: ${server.reason ?? "no reason given"}`,
    stopped: "stopped",
  };
  const skipped = server.skipped.length ? ` (${server.skipped.length} left out)` : "";
  return h("li", { class: `mcp-server state-${server.state}` },
    h("span", { class: "mcp-name", text: server.name }),
    h("span", { class: "mcp-state", text: (words[server.state] ?? server.state) + skipped }));
}
