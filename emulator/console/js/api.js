// The emulator's REST API as the console uses it: the public Functions API plus the control
// endpoints under /v1/emulator/, called with the project ID and the API key like any client.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || "";

export const PROJECT = meta("emulator-project");
export const VERSION = meta("emulator-version");
const STORAGE_KEY = `appwrite-emulator:key:${PROJECT}`;
const EMBEDDED_KEY = meta("emulator-key");

/** Where the key came from: the page (this machine) or the browser session (typed in). */
export const auth = {
  key: EMBEDDED_KEY || sessionStorage.getItem(STORAGE_KEY) || "",
  embedded: Boolean(EMBEDDED_KEY),
  remember(key) {
    this.key = key;
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  forget() {
    this.key = "";
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** An Appwrite error answer: `code` (HTTP), `type`, `message`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.code = body?.code ?? status;
    this.type = body?.type || "general_unknown";
  }

  /** The parameter a 1.3 validation message names (`Invalid schedule: ...`), or null. */
  get param() {
    const match = /^Invalid ([A-Za-z$]+): /.exec(this.message) ||
      /^Param "([^"]+)" is not optional/.exec(this.message);
    return match ? match[1] : null;
  }
}

/** Listeners told when the key is missing or refused (the console then asks for it). */
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

/**
 * One API call. `body`: an object sent as JSON, or FormData; `query`: [name, value] pairs.
 * Returns the parsed JSON (null for 204). Throws ApiError.
 */
export async function call(method, path, { body, query, headers = {} } = {}) {
  let url = `/v1${path}`;
  if (query && query.length) {
    const params = new URLSearchParams();
    for (const [name, value] of query) params.append(name, value);
    url += `?${params}`;
  }
  const init = {
    method,
    headers: { "X-Appwrite-Project": PROJECT, "X-Appwrite-Key": auth.key, ...headers },
  };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { message: "The emulator does not answer (is it running?)", type: "network" });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (error.type === "general_unauthorized_scope") {
      for (const listener of unauthorizedListeners) listener(error);
    }
    throw error;
  }
  return data;
}

const q = (s) => JSON.stringify(s);
export const Query = {
  limit: (n) => `limit(${n})`,
  equal: (attr, value) => `equal(${q(attr)}, [${q(value)}])`,
  newestFirst: () => 'orderDesc("")',
  cursorAfter: (id) => `cursorAfter(${q(id)})`,
  cursorBefore: (id) => `cursorBefore(${q(id)})`,
};
const queries = (list) => list.map((item) => ["queries[]", item]);
const fn = (id) => `/functions/${encodeURIComponent(id)}`;

export const api = {
  // Functions
  listFunctions: () => call("GET", "/functions", { query: queries([Query.limit(100)]) }),
  getFunction: (id) => call("GET", fn(id)),
  createFunction: (data) => call("POST", "/functions", { body: data }),
  updateFunction: (id, data) => call("PUT", fn(id), { body: data }),
  deleteFunction: (id) => call("DELETE", fn(id)),
  listRuntimes: () => call("GET", "/functions/runtimes"),
  // Variables
  listVariables: (id) => call("GET", `${fn(id)}/variables`),
  createVariable: (id, key, value) => call("POST", `${fn(id)}/variables`, { body: { key, value } }),
  updateVariable: (id, variableId, key, value) =>
    call("PUT", `${fn(id)}/variables/${encodeURIComponent(variableId)}`, { body: { key, value } }),
  deleteVariable: (id, variableId) =>
    call("DELETE", `${fn(id)}/variables/${encodeURIComponent(variableId)}`),
  // Deployments
  listDeployments: (id) =>
    call("GET", `${fn(id)}/deployments`, { query: queries([Query.limit(100), Query.newestFirst()]) }),
  getDeployment: (id, deploymentId) =>
    call("GET", `${fn(id)}/deployments/${encodeURIComponent(deploymentId)}`),
  activateDeployment: (id, deploymentId) =>
    call("PATCH", `${fn(id)}/deployments/${encodeURIComponent(deploymentId)}`),
  deleteDeployment: (id, deploymentId) =>
    call("DELETE", `${fn(id)}/deployments/${encodeURIComponent(deploymentId)}`),
  retryBuild: (id, deploymentId, buildId) =>
    call("POST", `${fn(id)}/deployments/${encodeURIComponent(deploymentId)}/builds/${encodeURIComponent(buildId)}`),
  // Executions
  listExecutions: (id, list) => call("GET", `${fn(id)}/executions`, { query: queries(list) }),
  getExecution: (id, executionId) =>
    call("GET", `${fn(id)}/executions/${encodeURIComponent(executionId)}`),
  createExecution: (id, data, runAsync) =>
    // An empty `data` is left out, as the SDKs do: 1.3 refuses an empty string.
    call("POST", `${fn(id)}/executions`, { body: data ? { data, async: runAsync } : { async: runAsync } }),
  // The emulator's control endpoints
  getClock: () => call("GET", "/emulator/clock"),
  advanceClock: (seconds) => call("POST", "/emulator/clock/advance", { body: { seconds } }),
  runSchedule: (id) => call("POST", `/emulator${fn(id)}/schedule`),
  fireEvent: (event, payload) => call("POST", "/emulator/events", { body: { event, payload } }),
  reset: (keepFunctions) => call("POST", "/emulator/reset", { body: { keepFunctions } }),
  streamTicket: () => call("POST", "/emulator/stream/tickets"),
  listFolders: () => call("GET", "/emulator/folders"),
  listFiles: (id) => call("GET", `/emulator${fn(id)}/files`),
  readFile: (id, path) => call("GET", `/emulator${fn(id)}/files/${encodePath(path)}`),
  writeFile: (id, path, content) =>
    call("PUT", `/emulator${fn(id)}/files/${encodePath(path)}`, { body: { content } }),
};

function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

const CHUNK = 5 * 1024 * 1024;

/**
 * Upload a deployment archive, in 5 MiB chunks when larger (as the SDKs do).
 * `onProgress(sent, total)` is called after each chunk.
 */
export async function uploadDeployment(id, file, entrypoint, activate, onProgress = () => {}) {
  const form = (blob) => {
    const data = new FormData();
    data.append("entrypoint", entrypoint);
    data.append("activate", activate ? "true" : "false");
    data.append("code", blob, file.name);
    return data;
  };
  if (file.size <= CHUNK) {
    const result = await call("POST", `${fn(id)}/deployments`, { body: form(file) });
    onProgress(file.size, file.size);
    return result;
  }
  let result = null;
  for (let start = 0; start < file.size; start += CHUNK) {
    const end = Math.min(start + CHUNK, file.size) - 1;
    const headers = { "Content-Range": `bytes ${start}-${end}/${file.size}` };
    if (result) headers["X-Appwrite-ID"] = result.$id;
    result = await call("POST", `${fn(id)}/deployments`, {
      body: form(file.slice(start, end + 1)),
      headers,
    });
    onProgress(end + 1, file.size);
  }
  return result;
}
