'use strict';
/*
 * Node.js worker for Appwrite 1.3 functions (the open-runtimes v2 `(req, res)` contract).
 *
 * The emulator starts one of these per warm deployment and talks to it over the line protocol
 * defined by emulator/executor/protocol.py and described from the adapter's side in
 * runtimes/README.md: requests arrive on stdin, replies leave on fd 3 (or --reply-fd); at start-up
 * both move to private descriptors and user code gets /dev/null in their place. The user's
 * entrypoint is required once (CommonJS); `module.exports` (or its `.default`) is called for every
 * request with `req` ({payload, variables, headers}) and `res` ({send, json}).
 *
 * Plain CommonJS, Node >= 14, no dependencies.
 */

const fs = require('fs');
const net = require('net');
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
// Appwrite 1.3 keeps the first 1,000,000 bytes (UTF-8) of `response`, `stdout` and `stderr`.
const OUTPUT_LIMIT = 1000000;
// The protocol descriptors are moved to this number or above, out of the way of user code.
const PRIVATE_FD_MIN = 100;

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
// Protocol descriptors. Node has no dup(): a pipe is reopened through /proc/self/fd (a new,
// close-on-exec descriptor of the same pipe), and /dev/null is put in place of the original one
// by closing it and opening /dev/null, which takes the lowest free number.
// ------------------------------------------------------------------------------------------------

// Opens `file` on a descriptor numbered PRIVATE_FD_MIN or above: the free ones below are parked
// on /dev/null meanwhile (open() always returns the lowest free number).
function openHigh(file, flags) {
  const parked = [];
  try {
    for (;;) {
      let fd;
      try {
        fd = fs.openSync('/dev/null', 'r');
      } catch (e) {
        if (parked.length > 0) fs.closeSync(parked.pop()); // out of descriptors: take a lower one
        break;
      }
      parked.push(fd);
      if (fd >= PRIVATE_FD_MIN) {
        fs.closeSync(parked.pop());
        break;
      }
    }
    return fs.openSync(file, flags);
  } finally {
    for (let i = 0; i < parked.length; i++) fs.closeSync(parked[i]);
  }
}

// Replaces descriptor `fd` with /dev/null. False if that was not possible.
function nullOnto(fd, flags) {
  const parked = [];
  try {
    fs.closeSync(fd);
    for (;;) {
      const got = fs.openSync('/dev/null', flags);
      if (got === fd) return true;
      if (got > fd) {
        fs.closeSync(got);
        return false;
      }
      parked.push(got);
    }
  } catch (e) {
    return false;
  } finally {
    for (let i = 0; i < parked.length; i++) fs.closeSync(parked[i]);
  }
}

// A private descriptor for the protocol's `fd`, or null when it cannot be reopened (not a pipe
// or file, no /proc); then the worker uses `fd` itself.
function privateCopy(fd, flags, what) {
  let copy;
  try {
    copy = openHigh('/proc/self/fd/' + fd, flags);
  } catch (e) {
    process.stderr.write(PREFIX + 'cannot move the ' + what + ' (fd ' + fd + ') out of user ' +
      'code\'s reach: ' + e.message + '\n');
    return null;
  }
  if (!nullOnto(fd, flags)) {
    process.stderr.write(PREFIX + 'cannot put /dev/null on fd ' + fd + '\n');
  }
  return copy;
}

const replyFd = (function () {
  if (opts.replyFd <= 2) return opts.replyFd; // an odd choice: leave the standard streams alone
  const copy = privateCopy(opts.replyFd, fs.constants.O_WRONLY, 'reply channel');
  return copy === null ? opts.replyFd : copy;
})();
const requestFd = privateCopy(0, fs.constants.O_RDONLY, 'request channel');

// ------------------------------------------------------------------------------------------------
// Replies and the worker's own diagnostics (its real stderr)
// ------------------------------------------------------------------------------------------------

let waitCell = null;
function pause(ms) {
  if (waitCell === null) waitCell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(waitCell, 0, 0, ms);
}

function writeLine(text) {
  const data = Buffer.from(text + '\n', 'utf8');
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(replyFd, data, offset, data.length - offset);
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

function writeMessage(message) {
  writeLine(JSON.stringify(message));
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
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  const parts = [];
  for (let i = 0; i < args.length; i++) parts.push(formatArg(args[i]));
  return parts.join(' ');
}

// The longest prefix of `text` that fits in `limit` UTF-8 bytes, never splitting a character.
// Only the first `limit` code units are looked at, so cutting a huge string is cheap.
function cutText(text, limit) {
  if (text.length * 3 <= limit) return text; // a UTF-16 code unit is at most 3 UTF-8 bytes
  let head = text;
  if (text.length > limit) {
    head = text.slice(0, limit);
    const last = head.charCodeAt(head.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1); // half of a pair
  }
  if (Buffer.byteLength(head, 'utf8') <= limit) return head;
  const data = Buffer.from(head, 'utf8');
  let end = limit;
  while (end > 0 && (data[end] & 0xc0) === 0x80) end--; // data[end] continues a character
  return data.toString('utf8', 0, end);
}

// One captured stream of one execution: console lines joined with "\n", of which only the first
// OUTPUT_LIMIT bytes are kept; later lines are counted, not stored (nor even formatted).
function Sink() {
  this.parts = [];
  this.room = OUTPUT_LIMIT;
  this.lines = 0;
  this.dropped = 0;
}
Sink.prototype.full = function () {
  return this.room <= 0;
};
// Appends `text`, or as much of it as fits; true when all of it was kept.
Sink.prototype.add = function (text) {
  if (!text) return true;
  if (this.room <= 0) return false;
  const kept = cutText(text, this.room);
  this.parts.push(kept);
  if (kept.length !== text.length) {
    this.room = 0;
    return false;
  }
  this.room -= Buffer.byteLength(kept, 'utf8');
  return true;
};
Sink.prototype.line = function (text) {
  if (this.room <= 0) {
    this.dropped++;
    return;
  }
  const first = this.lines++ === 0;
  if (!(first || this.add('\n')) || !this.add(text)) this.dropped++;
};
Sink.prototype.copy = function () {
  const sink = new Sink();
  sink.parts = this.parts.slice();
  sink.room = this.room;
  sink.lines = this.lines;
  return sink;
};
Sink.prototype.text = function () {
  return this.parts.join('');
};

const loadRecord = { kind: 'load', out: new Sink(), err: new Sink(), done: false };
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
  const target = captureTarget();
  const sink = target ? (channel === 'out' ? target.out : target.err) : null;
  if (sink && sink.full()) {
    sink.dropped++;
    return;
  }
  let line = formatArgs(args);
  // console.trace and logged stacks: keep the user's frames, not the worker's.
  if (line.length < 4 * OUTPUT_LIMIT && line.indexOf(WORKER_FILE) !== -1) line = cleanStack(line);
  if (sink) {
    sink.line(line);
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
  // The hello: protocol.py's LoadErrorMessage or ReadyMessage.
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

// Sends the reply of `execution` (protocol.py's ResultMessage); it counts as answered (`done`) once
// the reply is written. If the reply cannot be written the worker exits, so the emulator sees the
// failure at once.
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
  try {
    writeLine(line);
  } catch (e) {
    process.stderr.write(PREFIX + 'cannot send the reply of execution ' + execution.id + ': ' +
      String(e && e.message) + '\n');
    process.exit(1);
  }
  execution.done = true;
  if (current === execution) current = null;
  const streams = [['stdout', execution.out], ['stderr', execution.err]];
  for (let i = 0; i < streams.length; i++) {
    if (streams[i][1].dropped) {
      diagnostic('execution ' + execution.id + ': ' + streams[i][0] + ' was cut to its first ' +
        OUTPUT_LIMIT + ' bytes (' + streams[i][1].dropped + ' more console calls were dropped)');
    }
  }
  setImmediate(pump);
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
    out: new Sink(),
    err: new Sink(),
    done: false,
  };
  current = execution;
  if (firstExecution || loadErrorText !== null) {
    // What the module printed while loading belongs to the first execution (1.3 required the
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
// Requests (the private copy of stdin)
// ------------------------------------------------------------------------------------------------

function requestStream() {
  if (requestFd === null) return process.stdin;
  let stat = null;
  try {
    stat = fs.fstatSync(requestFd);
  } catch (e) {
    stat = null;
  }
  if (stat && (stat.isFIFO() || stat.isSocket())) {
    return new net.Socket({ fd: requestFd, readable: true, writable: false });
  }
  return fs.createReadStream(null, { fd: requestFd });
}

function listen() {
  let chunks = [];
  const input = requestStream();
  input.on('error', function (error) {
    diagnostic('cannot read requests: ' + (error && error.message));
    process.exit(1);
  });
  input.on('data', function (chunk) {
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
  input.on('end', function () {
    process.exit(0);
  });
}

writeMessage(load());
listen();
