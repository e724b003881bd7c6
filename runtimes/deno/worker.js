/*
 * Deno worker for Appwrite 1.3 functions (the open-runtimes v2 `export default (req, res)` contract).
 *
 * The emulator starts one of these per warm deployment and talks to it over the line protocol in
 * runtimes/README.md: requests arrive on stdin, replies leave on fd 3, moved to the worker's stdout
 * by the command that starts it (see "Protocol descriptors"). The entrypoint is
 * imported once (an ES module, TypeScript allowed); its default export is called for every request
 * with `req` ({payload, variables, headers}) and `res` ({send, json}), as in 1.3.
 *
 * Plain JavaScript (no type-checking or transpiling at start-up), Deno 1.21 or newer. Needs
 * --allow-read, --allow-write and --allow-env (1.3 also gave --allow-net).
 */

const PREFIX = '[appwrite-worker] ';
// Appwrite 1.3 keeps the first 1,000,000 bytes (UTF-8) of `response`, `stdout` and `stderr`.
const OUTPUT_LIMIT = 1000000;
const WORKER_URL = import.meta.url;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Tells which execution a console call or an uncaught error comes from, even when a timer of an
// earlier execution fires while a later one runs (Deno's node:async_hooks; absent before 1.28).
let contextStore = null;
try {
  const hooks = await import('node:async_hooks');
  contextStore = new hooks.AsyncLocalStorage();
} catch (_e) {
  contextStore = null;
}

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

function usage(message) {
  Deno.stderr.writeSync(encoder.encode('worker.js: ' + message + '\n' +
    'usage: deno run [flags] worker.js --code-dir DIR --entrypoint ENTRY [--reply-fd N]\n'));
  Deno.exit(2);
}

function parseArgs(argv) {
  // --reply-fd is accepted for the common command line; the launcher has already moved that
  // descriptor onto stdout.
  const names = { '--code-dir': 'codeDir', '--entrypoint': 'entrypoint', '--reply-fd': 'replyFd' };
  const opts = { codeDir: null, entrypoint: null, replyFd: '3' };
  for (let i = 0; i < argv.length; i++) {
    let key = argv[i];
    let value = null;
    const eq = key.indexOf('=');
    if (key.startsWith('--') && eq > 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    if (!Object.prototype.hasOwnProperty.call(names, key)) usage('unknown argument ' + argv[i]);
    if (value === null) {
      i += 1;
      if (i >= argv.length) usage(key + ' needs a value');
      value = argv[i];
    }
    opts[names[key]] = value;
  }
  if (!opts.codeDir || !opts.entrypoint) usage('--code-dir and --entrypoint are required');
  if (!/^\d+$/.test(opts.replyFd)) usage('--reply-fd must be a file descriptor number');
  opts.replyFd = Number(opts.replyFd);
  opts.codeDir = opts.codeDir.startsWith('/') ? opts.codeDir : Deno.cwd() + '/' + opts.codeDir;
  opts.codeDir = opts.codeDir.replace(/\/+$/, '');
  return opts;
}

const opts = parseArgs(Deno.args);

// ------------------------------------------------------------------------------------------------
// Protocol descriptors. Deno cannot dup or close raw descriptors, nor open a pipe without
// --allow-all, so the command that starts the worker puts the reply pipe on its stdout (`sh -c
// 'exec "$@" 1>&3 3>/dev/null'`, see emulator/executor/launch.py). The worker keeps the original
// `Deno.stdin`/`Deno.stdout` methods for the protocol and gives user code an empty stdin and a
// stdout that writes to the worker's stderr (the emulator's log). User code cannot start processes
// (no --allow-run), so nothing can inherit the pipes.
// ------------------------------------------------------------------------------------------------

const readRequests = Deno.stdin.read.bind(Deno.stdin);
const replies = { writeSync: Deno.stdout.writeSync.bind(Deno.stdout) };
const stdinForUsers = {
  read: () => Promise.resolve(null),
  readSync: () => null,
  readable: new ReadableStream({ start: (controller) => controller.close() }),
};
const stdoutForUsers = {
  write: (data) => Deno.stderr.write(data),
  writeSync: (data) => Deno.stderr.writeSync(data),
  writable: Deno.stderr.writable,
};
for (const [target, name, replacement] of [[Deno.stdin, 'stdin', stdinForUsers],
  [Deno.stdout, 'stdout', stdoutForUsers]]) {
  for (const [key, value] of Object.entries(replacement)) {
    try {
      Object.defineProperty(target, key, { value, configurable: true });
    } catch (_e) {
      diagnostic('Deno.' + name + '.' + key + ' cannot be replaced: user code could disturb ' +
        'the protocol');
    }
  }
}

function writeAll(file, data) {
  let offset = 0;
  while (offset < data.length) offset += file.writeSync(data.subarray(offset));
}

function writeLine(text) {
  try {
    writeAll(replies, encoder.encode(text + '\n'));
  } catch (_e) {
    Deno.exit(0); // the emulator stopped listening
  }
}

function realWrite(stream, text) {
  try {
    writeAll(stream, encoder.encode(text + '\n'));
  } catch (_e) {
    // The worker's own stdout/stderr are gone; the protocol does not depend on them.
  }
}

function diagnostic(text) {
  realWrite(Deno.stderr, PREFIX + text);
}

// ------------------------------------------------------------------------------------------------
// Console capture, as the v2 runtime did it: arguments joined by a space, objects and arrays as
// JSON, strings raw; entries joined by "\n".
// ------------------------------------------------------------------------------------------------

function formatArg(arg) {
  if (typeof arg === 'string') return arg;
  if (arg !== null && (typeof arg === 'object' || typeof arg === 'function')) {
    let text;
    try {
      text = JSON.stringify(arg);
    } catch (_e) {
      return Deno.inspect(arg); // cycles, BigInts
    }
    return text === undefined ? String(arg) : text;
  }
  return String(arg);
}

function formatArgs(args) {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return Array.from(args, formatArg).join(' ');
}

function byteLength(text) {
  return encoder.encode(text).length;
}

// The longest prefix of `text` that fits in `limit` UTF-8 bytes, never splitting a character.
function cutText(text, limit) {
  if (text.length * 3 <= limit) return text;
  let head = text.length > limit ? text.slice(0, limit) : text;
  const last = head.charCodeAt(head.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1); // half of a pair
  const data = encoder.encode(head);
  if (data.length <= limit) return head;
  let end = limit;
  while (end > 0 && (data[end] & 0xc0) === 0x80) end--; // data[end] continues a character
  return decoder.decode(data.subarray(0, end));
}

// One captured stream of one execution: lines joined with "\n", the first OUTPUT_LIMIT bytes kept.
class Sink {
  constructor() {
    this.parts = [];
    this.room = OUTPUT_LIMIT;
    this.lines = 0;
    this.dropped = 0;
  }

  full() {
    return this.room <= 0;
  }

  add(text) {
    if (!text) return true;
    if (this.room <= 0) return false;
    const kept = cutText(text, this.room);
    this.parts.push(kept);
    if (kept.length !== text.length) {
      this.room = 0;
      return false;
    }
    this.room -= byteLength(kept);
    return true;
  }

  line(text) {
    if (this.room <= 0) {
      this.dropped++;
      return;
    }
    const first = this.lines++ === 0;
    if (!(first || this.add('\n')) || !this.add(text)) this.dropped++;
  }

  copy() {
    const sink = new Sink();
    sink.parts = this.parts.slice();
    sink.room = this.room;
    sink.lines = this.lines;
    return sink;
  }

  text() {
    return this.parts.join('');
  }
}

const loadRecord = { kind: 'load', out: new Sink(), err: new Sink(), done: false };
let loading = false;
let current = null; // the execution being served, until its reply is sent

function storeExecution() {
  const store = contextStore ? contextStore.getStore() : undefined;
  return store && store.kind === 'execution' ? store : null;
}

// Where a console call goes: the execution it belongs to while that one has not replied yet;
// the worker's stderr (the emulator's log) otherwise.
function captureTarget() {
  const owner = storeExecution();
  if (owner) return owner.done ? null : owner;
  if (loading) return loadRecord;
  if (current && !current.done) return current;
  return null;
}

function emit(channel, args) {
  const target = captureTarget();
  const sink = target ? (channel === 'out' ? target.out : target.err) : null;
  if (sink && sink.full()) {
    sink.dropped++;
    return;
  }
  let line = formatArgs(args);
  if (line.length < 4 * OUTPUT_LIMIT && line.indexOf(WORKER_URL) !== -1) line = cleanStack(line);
  if (sink) sink.line(line);
  else realWrite(Deno.stderr, line); // the worker's stdout carries the replies
}

// Every console method is replaced: Deno's own would print straight to the process's stdout.
const counts = new Map();
const timers = new Map();
const consoleMethods = {
  log: (...args) => emit('out', args),
  info: (...args) => emit('out', args),
  debug: (...args) => emit('out', args),
  dir: (value) => emit('out', [Deno.inspect(value)]),
  dirxml: (...args) => emit('out', args),
  table: (value) => emit('out', [Deno.inspect(value)]),
  warn: (...args) => emit('err', args),
  error: (...args) => emit('err', args),
  trace: (...args) => {
    const stack = new Error().stack.split('\n').slice(2).join('\n');
    emit('err', ['Trace' + (args.length ? ': ' + formatArgs(args) : '') + '\n' + stack]);
  },
  assert: (condition, ...args) => {
    if (!condition) emit('err', ['Assertion failed' + (args.length ? ': ' + formatArgs(args) : '')]);
  },
  count: (label = 'default') => {
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    emit('out', [label + ': ' + n]);
  },
  countReset: (label = 'default') => counts.delete(label),
  time: (label = 'default') => timers.set(label, performance.now()),
  timeLog: (label = 'default', ...args) => {
    if (!timers.has(label)) return;
    const ms = performance.now() - timers.get(label);
    emit('out', [label + ': ' + ms.toFixed(3) + 'ms', ...args]);
  },
  timeEnd: (label = 'default') => {
    if (!timers.has(label)) return;
    emit('out', [label + ': ' + (performance.now() - timers.get(label)).toFixed(3) + 'ms']);
    timers.delete(label);
  },
  group: (...args) => args.length && emit('out', args),
  groupCollapsed: (...args) => args.length && emit('out', args),
  groupEnd: () => {},
  clear: () => {},
};
for (const name of Object.keys(console)) {
  if (typeof console[name] === 'function' && !(name in consoleMethods)) {
    consoleMethods[name] = () => {};
  }
}
Object.assign(console, consoleMethods);

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

// Drops the worker's own frames: the first worker frame below the user's marks where the user's
// code was called from.
function cleanStack(stack) {
  const lines = stack.split('\n');
  const kept = [];
  let userFrames = false;
  for (const line of lines) {
    const frame = /^\s*at /.test(line);
    if (line.indexOf(WORKER_URL) !== -1) {
      if (frame && userFrames) break;
      continue;
    }
    if (frame) userFrames = true;
    kept.push(line);
  }
  return kept.join('\n');
}

function errorText(error) {
  if (error && typeof error === 'object' && typeof error.stack === 'string' && error.stack) {
    return cleanStack(error.stack);
  }
  if (error instanceof Error) return String(error);
  return formatArg(error);
}

class LoadError extends Error {}

// ------------------------------------------------------------------------------------------------
// Loading the entrypoint
// ------------------------------------------------------------------------------------------------

let userFunction = null;
let loadErrorText = null;

function entryPath() {
  const parts = opts.entrypoint.replace(/\\/g, '/').split('/').filter((p) => p && p !== '.');
  if (!parts.length || parts.includes('..')) {
    throw new LoadError('Invalid entrypoint ' + JSON.stringify(opts.entrypoint) +
      ': it must be a file path inside the code.');
  }
  const path = opts.codeDir + '/' + parts.join('/');
  let stat = null;
  try {
    stat = Deno.statSync(path);
  } catch (_e) {
    stat = null;
  }
  if (!stat || !stat.isFile) {
    throw new LoadError('Entrypoint file not found: ' + opts.entrypoint +
      ' (the deployment has no such file; check the function\'s entrypoint).');
  }
  return path;
}

async function loadUserFunction() {
  const url = 'file://' + entryPath().split('/').map(encodeURIComponent).join('/');
  const module = await import(url);
  const fn = module.default;
  if (typeof fn !== 'function') {
    throw new LoadError(opts.entrypoint + ' has no default export that is a function. ' +
      'Appwrite 1.3 calls `export default async function (req, res) { ... }`; the default export ' +
      'is ' + (fn === null ? 'null' : typeof fn) + '.');
  }
  return fn;
}

async function load() {
  loading = true;
  const run = async () => {
    try {
      userFunction = await loadUserFunction();
    } catch (e) {
      loadErrorText = e instanceof LoadError ? e.message : errorText(e);
    }
  };
  try {
    await (contextStore ? contextStore.run(loadRecord, run) : run());
  } finally {
    loading = false;
  }
  if (loadErrorText !== null) {
    const stderr = loadRecord.err.copy();
    stderr.line(loadErrorText);
    return { type: 'load_error', stderr: stderr.text() };
  }
  return { type: 'ready' };
}

// ------------------------------------------------------------------------------------------------
// Executions
// ------------------------------------------------------------------------------------------------

const baseEnv = Deno.env.toObject();

function setEnv(variables) {
  const wanted = { ...baseEnv };
  for (const [key, value] of Object.entries(variables)) {
    wanted[key] = value === null || value === undefined ? '' : String(value);
  }
  const now = Deno.env.toObject();
  for (const key of Object.keys(now)) {
    if (!Object.prototype.hasOwnProperty.call(wanted, key)) Deno.env.delete(key);
  }
  for (const [key, value] of Object.entries(wanted)) {
    if (now[key] === value) continue;
    try {
      Deno.env.set(key, value);
    } catch (_e) {
      diagnostic('variable ' + JSON.stringify(key) + ' cannot be put in the environment; ' +
        'it stays in req.variables');
    }
  }
}

// The response text, as 1.3 stored what the function passed to res.send/res.json.
function responseText(value) {
  if (value === undefined || value === null || value === false) return '';
  if (value === true) return '1';
  if (typeof value === 'string') return value;
  if (typeof value === 'object' || typeof value === 'function') {
    const text = JSON.stringify(value);
    return text === undefined ? '' : text;
  }
  return String(value);
}

function statusCode(status) {
  if (status === undefined || status === null) return 200;
  const blank = typeof status === 'boolean' || (typeof status === 'string' && !status.trim());
  const code = blank ? NaN : Number(status);
  if (!Number.isInteger(code) || code < 100 || code > 999) {
    throw new RangeError('Invalid status code: ' + formatArg(status));
  }
  return code;
}

let firstExecution = true;
const queue = [];

function finish(execution, code, response) {
  if (execution.done) return;
  let line;
  try {
    line = JSON.stringify({
      type: 'result',
      id: execution.id,
      statusCode: code,
      response: cutText(String(response), OUTPUT_LIMIT),
      stdout: execution.out.text(),
      stderr: execution.err.text(),
    });
  } catch (e) {
    diagnostic('execution ' + execution.id + ': the reply could not be encoded: ' + errorText(e));
    line = JSON.stringify({
      type: 'result',
      id: execution.id,
      statusCode: 500,
      response: '',
      stdout: '',
      stderr: 'The worker could not encode the reply of this execution: ' + String(e && e.message),
    });
  }
  writeLine(line);
  execution.done = true;
  if (current === execution) current = null;
  for (const [name, sink] of [['stdout', execution.out], ['stderr', execution.err]]) {
    if (sink.dropped) {
      diagnostic('execution ' + execution.id + ': ' + name + ' was cut to its first ' +
        OUTPUT_LIMIT + ' bytes (' + sink.dropped + ' more console calls were dropped)');
    }
  }
  queueMicrotask(pump);
}

function fail(execution, error, origin) {
  if (!execution.done) {
    execution.err.line(errorText(error));
    finish(execution, 500, '');
    return;
  }
  diagnostic('execution ' + execution.id + ': ' + origin + ' after its response was sent ' +
    '(the worker keeps running):\n' + errorText(error));
}

function makeResponse(execution) {
  function reply(method, value, status) {
    if (execution.done) {
      diagnostic('execution ' + execution.id + ': res.' + method + '() was called after the ' +
        'response had been sent; the call is ignored.');
      return;
    }
    const code = statusCode(status);
    finish(execution, code, responseText(value));
  }
  return {
    send: (text, status) => reply('send', text, status),
    json: (obj, status) => reply('json', obj, status),
  };
}

function plainObject(value) {
  return value && typeof value === 'object' && !Array.isArray(value) ? { ...value } : {};
}

function runExecution(message) {
  const execution = {
    kind: 'execution',
    id: message.id,
    out: new Sink(),
    err: new Sink(),
    done: false,
  };
  current = execution;
  if (firstExecution || loadErrorText !== null) {
    // What the module printed while loading belongs to the first execution (1.3 imported the
    // entrypoint lazily, inside a request); a load error repeats for every execution.
    execution.out = loadRecord.out.copy();
    execution.err = loadRecord.err.copy();
    firstExecution = false;
  }
  const variables = plainObject(message.variables);
  setEnv(variables);
  if (loadErrorText !== null) {
    execution.err.line(loadErrorText);
    finish(execution, 500, '');
    return;
  }
  let payload = message.payload;
  if (payload === undefined || payload === null) payload = '';
  else if (typeof payload !== 'string') payload = JSON.stringify(payload);
  const req = { payload, variables, headers: plainObject(message.headers) };
  const res = makeResponse(execution);
  const call = () => {
    let result;
    try {
      result = userFunction(req, res);
    } catch (e) {
      fail(execution, e, 'an error was thrown');
      return;
    }
    Promise.resolve(result).then(() => {
      if (!execution.done) {
        diagnostic('execution ' + execution.id + ': the function returned without calling ' +
          'res.send() or res.json(); waiting for a later call (Appwrite 1.3 waits until the ' +
          'execution times out).');
      }
    }, (e) => fail(execution, e, 'the function\'s promise was rejected'));
  };
  if (contextStore) contextStore.run(execution, call);
  else call();
}

function pump() {
  while (queue.length > 0 && (current === null || current.done)) {
    const message = queue.shift();
    if (!message || message.type !== 'execute') {
      diagnostic('ignored a request of unknown type ' + JSON.stringify(message && message.type));
      continue;
    }
    runExecution(message);
  }
}

// An error nobody caught fails the execution being served if it has not replied yet; otherwise it
// is written to the worker's stderr and the worker keeps serving.
function strayError(error, origin) {
  const owner = storeExecution() || current;
  if (owner) fail(owner, error, origin);
  else diagnostic(origin + ' outside any execution (the worker keeps running):\n' + errorText(error));
}

globalThis.addEventListener('error', (event) => {
  event.preventDefault();
  strayError(event.error, 'an uncaught exception');
});
globalThis.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  strayError(event.reason, 'an unhandled promise rejection');
});

// ------------------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------------------

async function listen() {
  let pending = new Uint8Array(0);
  const buffer = new Uint8Array(65536);
  for (;;) {
    let n;
    try {
      n = await readRequests(buffer);
    } catch (e) {
      diagnostic('cannot read requests: ' + (e && e.message));
      Deno.exit(1);
    }
    if (n === null) Deno.exit(0);
    const chunk = new Uint8Array(pending.length + n);
    chunk.set(pending);
    chunk.set(buffer.subarray(0, n), pending.length);
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      const line = decoder.decode(chunk.subarray(start, newline)).trim();
      if (line) {
        let message = null;
        try {
          message = JSON.parse(line);
        } catch (_e) {
          diagnostic('ignored a request line that is not JSON: ' + line.slice(0, 200));
        }
        if (message && typeof message === 'object' && !Array.isArray(message)) queue.push(message);
        else if (message !== null) {
          diagnostic('ignored a request line that is not a JSON object: ' + line.slice(0, 200));
        }
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    pending = chunk.slice(start);
    pump();
  }
}

writeLine(JSON.stringify(await load()));
await listen();
