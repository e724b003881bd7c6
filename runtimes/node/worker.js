'use strict';
/*
 * Node.js worker for Appwrite 1.3 functions (the open-runtimes v2 `(req, res)` contract).
 *
 * The emulator starts one of these per warm deployment and talks to it over the line protocol in
 * runtimes/README.md: requests arrive on stdin, replies leave on fd 3 (or --reply-fd). The user's
 * entrypoint is required once (CommonJS); `module.exports` (or its `.default`) is called for every
 * request with `req` ({payload, variables, headers}) and `res` ({send, json}).
 *
 * Plain CommonJS, Node >= 14, no dependencies.
 */

const fs = require('fs');
const path = require('path');
const util = require('util');

let AsyncLocalStorage = null;
try {
  AsyncLocalStorage = require('async_hooks').AsyncLocalStorage || null;
} catch (e) {
  AsyncLocalStorage = null;
}
// Tells which execution a console call, a res call or an uncaught error comes from, even when a
// timer of an earlier execution fires while a later one runs.
const contextStore = AsyncLocalStorage ? new AsyncLocalStorage() : null;

const PREFIX = '[appwrite-worker] ';
const WORKER_FILE = __filename;

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

function usage(message) {
  process.stderr.write('worker.js: ' + message + '\n' +
    'usage: node worker.js --code-dir DIR --entrypoint ENTRY [--reply-fd N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const names = { '--code-dir': 'codeDir', '--entrypoint': 'entrypoint', '--reply-fd': 'replyFd' };
  const opts = { codeDir: null, entrypoint: null, replyFd: '3' };
  for (let i = 0; i < argv.length; i++) {
    let key = argv[i];
    let value = null;
    const eq = key.indexOf('=');
    if (key.slice(0, 2) === '--' && eq > 0) {
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
  const fd = Number(opts.replyFd);
  if (!Number.isInteger(fd) || fd < 0) usage('--reply-fd must be a file descriptor number');
  opts.replyFd = fd;
  opts.codeDir = path.resolve(opts.codeDir);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ------------------------------------------------------------------------------------------------
// Replies (fd 3) and the worker's own diagnostics (its real stderr)
// ------------------------------------------------------------------------------------------------

let waitCell = null;
function pause(ms) {
  if (waitCell === null) waitCell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(waitCell, 0, 0, ms);
}

function writeMessage(message) {
  const data = Buffer.from(JSON.stringify(message) + '\n', 'utf8');
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(opts.replyFd, data, offset, data.length - offset);
    } catch (e) {
      if (e.code === 'EAGAIN') {
        pause(2);
        continue;
      }
      if (e.code === 'EPIPE') {
        // The emulator stopped listening: nothing left to do.
        process.exit(0);
      }
      process.stderr.write(PREFIX + 'cannot write to the reply fd ' + opts.replyFd + ': ' +
        e.message + '\n');
      process.exit(1);
    }
  }
}

function realWrite(stream, text) {
  try {
    stream.write(text + '\n');
  } catch (e) {
    // The worker's own stdout/stderr are gone; the protocol does not depend on them.
  }
}

function diagnostic(text) {
  realWrite(process.stderr, PREFIX + text);
}

// ------------------------------------------------------------------------------------------------
// Console capture, as the v2 runtime did it: arguments joined by a space, objects and arrays as
// JSON (so `console.log(new Error('x'))` records `{}`), strings raw; entries joined by "\n".
// ------------------------------------------------------------------------------------------------

function formatArg(arg) {
  if (typeof arg === 'string') return arg;
  if (arg !== null && (typeof arg === 'object' || typeof arg === 'function')) {
    let text;
    try {
      text = JSON.stringify(arg);
    } catch (e) {
      // Circular structures and BigInts made 1.3's console throw; show something useful instead.
      return util.inspect(arg);
    }
    return text === undefined ? String(arg) : text;
  }
  return String(arg);
}

function formatArgs(args) {
  const parts = [];
  for (let i = 0; i < args.length; i++) parts.push(formatArg(args[i]));
  return parts.join(' ');
}

const loadRecord = { kind: 'load', logs: [], errors: [], done: false };
let loading = false;
let current = null; // the execution being served, until its reply is sent

function storeExecution() {
  const store = contextStore ? contextStore.getStore() : undefined;
  return store && store.kind === 'execution' ? store : null;
}

// Where a console call goes: the execution it belongs to while that one has not replied yet;
// the worker's real stdout/stderr (the emulator's log) otherwise.
function captureTarget() {
  const owner = storeExecution();
  if (owner) return owner.done ? null : owner;
  if (loading) return loadRecord;
  if (current && !current.done) return current;
  return null;
}

function emit(channel, args) {
  let line = formatArgs(args);
  // console.trace and logged stacks: keep the user's frames, not the worker's.
  if (line.indexOf(WORKER_FILE) !== -1) line = cleanStack(line);
  const target = captureTarget();
  if (target) {
    (channel === 'out' ? target.logs : target.errors).push(line);
  } else {
    realWrite(channel === 'out' ? process.stdout : process.stderr, line);
  }
}

console.log = function log() { emit('out', arguments); };
console.info = function info() { emit('out', arguments); };
console.debug = function debug() { emit('out', arguments); };
console.warn = function warn() { emit('err', arguments); };
console.error = function error() { emit('err', arguments); };

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

// Drops the worker's own frames. Frames of the worker above the user's code (res.send rejecting a
// bad status) are skipped; the first worker frame below it marks where the user's code was called
// from, so everything after it is the worker's plumbing. "Require stack" entries naming the worker
// go too.
function cleanStack(stack) {
  const lines = stack.split('\n');
  const kept = [];
  let userFrames = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const frame = /^\s*at /.test(line);
    if (line.indexOf(WORKER_FILE) !== -1) {
      if (frame && userFrames) break;
      continue;
    }
    if (frame) userFrames = true;
    kept.push(line);
  }
  while (kept.length > 1 && /^\s*at AsyncLocalStorage\.run /.test(kept[kept.length - 1])) {
    kept.pop();
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

function LoadError(message) {
  this.message = message;
}

// ------------------------------------------------------------------------------------------------
// Loading the entrypoint
// ------------------------------------------------------------------------------------------------

let userFunction = null;
let loadErrorText = null;

function loadUserFunction() {
  const file = path.resolve(opts.codeDir, opts.entrypoint);
  let resolved;
  try {
    resolved = require.resolve(file);
  } catch (e) {
    throw new LoadError('Entrypoint file not found: ' + opts.entrypoint +
      ' (the deployment has no such file; check the function\'s entrypoint).');
  }
  const exported = require(resolved);
  let fn = exported;
  if (exported && typeof exported.default === 'function') fn = exported.default;
  if (typeof fn !== 'function') {
    throw new LoadError(opts.entrypoint + ' does not export a function. Appwrite 1.3 calls ' +
      '`module.exports = async (req, res) => { ... }` (or its `.default`); the export is ' +
      (exported === null ? 'null' : typeof exported) + '.');
  }
  return fn;
}

function load() {
  loading = true;
  const run = function () {
    try {
      userFunction = loadUserFunction();
    } catch (e) {
      loadErrorText = e instanceof LoadError ? e.message : errorText(e);
    }
  };
  try {
    if (contextStore) contextStore.run(loadRecord, run);
    else run();
  } finally {
    loading = false;
  }
  if (loadErrorText !== null) {
    return { type: 'load_error', stderr: loadRecord.errors.concat([loadErrorText]).join('\n') };
  }
  return { type: 'ready' };
}

// ------------------------------------------------------------------------------------------------
// Executions
// ------------------------------------------------------------------------------------------------

const baseEnv = Object.assign({}, process.env);

function setEnv(variables) {
  const keys = Object.keys(process.env);
  for (let i = 0; i < keys.length; i++) {
    if (!Object.prototype.hasOwnProperty.call(baseEnv, keys[i])) delete process.env[keys[i]];
  }
  Object.assign(process.env, baseEnv);
  const names = Object.keys(variables);
  for (let i = 0; i < names.length; i++) {
    const value = variables[names[i]];
    try {
      process.env[names[i]] = value === null || value === undefined ? '' : String(value);
    } catch (e) {
      diagnostic('variable ' + JSON.stringify(names[i]) + ' cannot be put in process.env; ' +
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
  // The range Node's HTTP server accepts (micro would have thrown for anything else).
  if (!Number.isInteger(code) || code < 100 || code > 999) {
    throw new RangeError('Invalid status code: ' + formatArg(status));
  }
  return code;
}

let firstExecution = true;
const queue = [];

function finish(execution, code, response) {
  if (execution.done) return;
  execution.done = true;
  if (current === execution) current = null;
  writeMessage({
    type: 'result',
    id: execution.id,
    statusCode: code,
    response: response,
    stdout: execution.logs.join('\n'),
    stderr: execution.errors.join('\n'),
  });
  setImmediate(pump);
}

function fail(execution, error, origin) {
  if (!execution.done) {
    execution.errors.push(errorText(error));
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
    const text = responseText(value);
    finish(execution, code, text);
  }
  return {
    send: function send(text, status) { reply('send', text, status); },
    json: function json(obj, status) { reply('json', obj, status); },
  };
}

function plainObject(value) {
  return value && typeof value === 'object' && !Array.isArray(value) ? Object.assign({}, value) : {};
}

function runExecution(message) {
  const execution = {
    kind: 'execution',
    id: message.id,
    logs: [],
    errors: [],
    done: false,
  };
  current = execution;
  if (firstExecution || loadErrorText !== null) {
    // What the module printed while loading belongs to the first execution (1.3 required the
    // entrypoint lazily, inside a request); a load error repeats for every execution.
    execution.logs = loadRecord.logs.slice();
    execution.errors = loadRecord.errors.slice();
    firstExecution = false;
  }
  const variables = plainObject(message.variables);
  setEnv(variables);
  if (loadErrorText !== null) {
    execution.errors.push(loadErrorText);
    finish(execution, 500, '');
    return;
  }
  let payload = message.payload;
  if (payload === undefined || payload === null) payload = '';
  else if (typeof payload !== 'string') payload = JSON.stringify(payload);
  const req = { payload: payload, variables: variables, headers: plainObject(message.headers) };
  const res = makeResponse(execution);

  const call = function () {
    let result;
    try {
      result = userFunction(req, res);
    } catch (e) {
      fail(execution, e, 'an error was thrown');
      return;
    }
    Promise.resolve(result).then(function () {
      if (!execution.done) {
        diagnostic('execution ' + execution.id + ': the function returned without calling ' +
          'res.send() or res.json(); waiting for a later call (Appwrite 1.3 waits until the ' +
          'execution times out).');
      }
    }, function (e) {
      fail(execution, e, 'the function\'s promise was rejected');
    });
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

// An error nobody caught: it fails the execution it came from if that one has not replied yet;
// otherwise it is written to the worker's stderr and the worker keeps serving.
function strayError(error, origin) {
  const owner = storeExecution() || current;
  if (owner) {
    fail(owner, error, origin);
  } else {
    diagnostic(origin + ' outside any execution (the worker keeps running):\n' +
      errorText(error));
  }
}

process.on('uncaughtException', function (error) {
  strayError(error, 'an uncaught exception');
});
process.on('unhandledRejection', function (reason) {
  strayError(reason, 'an unhandled promise rejection');
});

// ------------------------------------------------------------------------------------------------
// Requests (stdin)
// ------------------------------------------------------------------------------------------------

function listen() {
  let chunks = [];
  process.stdin.on('data', function (chunk) {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      chunks.push(chunk.slice(start, newline));
      const line = Buffer.concat(chunks).toString('utf8').trim();
      chunks = [];
      if (line) {
        let message = null;
        try {
          message = JSON.parse(line);
        } catch (e) {
          diagnostic('ignored a request line that is not JSON: ' + line.slice(0, 200));
        }
        if (message && typeof message === 'object' && !Array.isArray(message)) {
          queue.push(message);
        } else if (message !== null) {
          diagnostic('ignored a request line that is not a JSON object: ' + line.slice(0, 200));
        }
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) chunks.push(chunk.slice(start));
    pump();
  });
  process.stdin.on('end', function () {
    process.exit(0);
  });
}

writeMessage(load());
listen();
