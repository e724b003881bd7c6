// The live stream: server-sent events from /v1/emulator/stream, opened with a short-lived ticket
// (an EventSource cannot send the key as a header). Survives emulator restarts: on any loss it
// asks for a new ticket and reconnects, then tells every view to read its data again.

import { PROJECT, api } from "./api.js";

const handlers = new Set();
let source = null;
let retryTimer = null;
let retryDelay = 500;
let everConnected = false;
let stopped = false;
let statusElement = null;
let stateName = "offline";

/**
 * Call `handler(message)` for every live message: `{events: [...], payload}` for an event, or
 * `{resync: true}` when messages may have been missed (read everything again).
 * Returns what stops it.
 */
export function onLive(handler) {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

function tell(message) {
  for (const handler of [...handlers]) {
    try {
      handler(message);
    } catch (error) {
      console.error("A live update handler failed", error);
    }
  }
}

export function liveState() {
  return stateName;
}

function setState(state, label) {
  stateName = state;
  if (!statusElement) return;
  statusElement.dataset.state = state;
  statusElement.textContent = label;
}

function scheduleReconnect() {
  if (stopped || retryTimer) return;
  setState("reconnecting", "Reconnecting…");
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect();
  }, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 4000);
}

async function connect() {
  if (stopped) return;
  let ticket;
  try {
    ({ ticket } = await api.streamTicket());
  } catch {
    scheduleReconnect(); // down (restarting), or the key is refused: try again later
    return;
  }
  const url = `/v1/emulator/stream?${new URLSearchParams({ project: PROJECT, ticket })}`;
  const current = new EventSource(url);
  source = current;
  current.addEventListener("ready", () => {
    retryDelay = 500;
    setState("live", "Live");
    if (everConnected) tell({ resync: true });
    everConnected = true;
  });
  current.addEventListener("resync", () => tell({ resync: true }));
  current.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    tell(message);
  });
  current.addEventListener("error", () => {
    if (source !== current) return;
    // The browser retries by itself with the same URL, but the ticket may not outlive a restart:
    // start again with a new one.
    current.close();
    source = null;
    scheduleReconnect();
  });
}

/** Open the stream; `element` shows its state (Live, Reconnecting…). */
export function startLive(element) {
  statusElement = element;
  stopped = false;
  setState("connecting", "Connecting…");
  connect();
}

export function stopLive() {
  stopped = true;
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  setState("offline", "Offline");
}

/** Whether `message` is about the function `functionId` (any of its events). */
export function concerns(message, functionId, kind = "") {
  const prefix = `functions.${functionId}.${kind}`;
  return (message.events || []).some((name) => name === `functions.${functionId}` || name.startsWith(prefix));
}

/** The first event name of `message` that matches `pattern` (a RegExp). */
export function matching(message, pattern) {
  return (message.events || []).find((name) => pattern.test(name)) || null;
}
