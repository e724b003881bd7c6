<?php
/*
 * PHP worker for Appwrite 1.3 functions (the open-runtimes v2 `function ($req, $res)` contract).
 *
 * The emulator starts one of these per warm deployment and talks to it over the line protocol in
 * runtimes/README.md: requests arrive on stdin, replies leave on fd 3 (or --reply-fd). With the FFI
 * extension (PHP's CLI allows it by default) both move to private close-on-exec descriptors at
 * start-up and user code gets /dev/null in their place. The entrypoint file is included once; it
 * returns the user's callable, which is called for every request with `$req` (an array with
 * `payload`, `variables` and `headers`) and `$res` (`send($text, $status = 200)`,
 * `json($json, $status = 200)`). Everything the function echoes (an output buffer, as in 1.3) is
 * the execution's stdout.
 *
 * PHP 8.0 or newer, no dependencies.
 */

namespace AppwriteWorker;

const PREFIX = '[appwrite-worker] ';
// Appwrite 1.3 keeps the first 1,000,000 bytes (UTF-8) of `response`, `stdout` and `stderr`.
const OUTPUT_LIMIT = 1000000;
// The protocol descriptors are moved to this number or above, out of the way of user code.
const PRIVATE_FD_MIN = 100;
const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE
    | JSON_PARTIAL_OUTPUT_ON_ERROR;

function diagnostic(string $text): void
{
    @fwrite(STDERR, PREFIX . $text . "\n");
}

/** The longest prefix of `$text` that fits in `$limit` bytes, never splitting a UTF-8 character. */
function cut_text(string $text, int $limit = OUTPUT_LIMIT): string
{
    if (strlen($text) <= $limit) {
        return $text;
    }
    $end = $limit;
    while ($end > 0 && (ord($text[$end]) & 0xC0) === 0x80) {
        $end--;  // $text[$end] continues a character: cut before it
    }
    return substr($text, 0, $end);
}

/** One captured stream of one execution: keeps its first OUTPUT_LIMIT bytes, counts the rest. */
final class Sink
{
    private $parts = [];
    public $room = OUTPUT_LIMIT;
    public $dropped = 0;

    public function add(string $text): void
    {
        if ($text === '') {
            return;
        }
        if ($this->room <= 0) {
            $this->dropped += strlen($text);
            return;
        }
        $kept = cut_text($text, $this->room);
        $this->parts[] = $kept;
        $this->room -= strlen($kept);
        if (strlen($kept) < strlen($text)) {
            $this->room = 0;
            $this->dropped += strlen($text) - strlen($kept);
        }
    }

    public function text(): string
    {
        return implode('', $this->parts);
    }
}

/** The `$res` of the v2 contract: each call records; the reply goes out when the function returns. */
final class Response
{
    public $response = null;
    public $status = 200;

    public function send($text, $status = 200)
    {
        $this->status = status_code($status);
        $this->response = $text;
    }

    public function json($json, $status = 200)
    {
        $this->status = status_code($status);
        $this->response = $json;
    }
}

function status_code($status): int
{
    if ($status === null) {
        return 200;
    }
    if (is_int($status) || (is_string($status) && preg_match('/^\s*\d+\s*$/', $status))
        || (is_float($status) && floor($status) === $status)) {
        $code = (int) $status;
        if ($code >= 100 && $code <= 999) {
            return $code;
        }
    }
    throw new \ValueError('Invalid status code: ' . var_export($status, true));
}

/** The `response` string for what the function passed to `$res->send()` / `$res->json()`. */
function response_text($value): string
{
    if ($value === null || $value === false) {
        return '';
    }
    if ($value === true) {
        return '1';
    }
    if (is_string($value)) {
        return $value;
    }
    if (is_int($value) || is_float($value)) {
        return (string) $value;
    }
    $text = json_encode($value, JSON_FLAGS);
    return $text === false ? '' : $text;
}

// ------------------------------------------------------------------------------------------------
// Protocol descriptors
// ------------------------------------------------------------------------------------------------

/**
 * Requests in, replies out. With FFI: private close-on-exec copies of stdin and the reply fd,
 * read and written with libc, and /dev/null put on fd 0 and the reply fd. Without FFI: PHP's own
 * streams on the descriptors (user code could reach them; a diagnostic says so).
 */
final class Channel
{
    private $libc = null;
    private $in = -1;
    private $out = -1;
    private $inStream = null;
    private $outStream = null;
    private $buffer = '';
    private $chunk = null;

    public function __construct(int $replyFd)
    {
        if (extension_loaded('FFI')) {
            try {
                $this->libc = \FFI::cdef(
                    'int fcntl(int fd, int cmd, ...); int open(const char *path, int flags);'
                    . 'int dup2(int from, int to); int close(int fd); int *__errno_location(void);'
                    . 'long read(int fd, char *buf, unsigned long n);'
                    . 'long write(int fd, const char *buf, unsigned long n);',
                    'libc.so.6'
                );
            } catch (\Throwable $e) {
                $this->libc = null;
                diagnostic('FFI cannot load libc (' . $e->getMessage() . ')');
            }
        }
        if ($this->libc !== null) {
            $this->in = $this->privateCopy(0);
            $this->nullOnto(0, 0);
            $this->out = $replyFd > 2 ? $this->privateCopy($replyFd) : $replyFd;
            if ($replyFd > 2) {
                $this->nullOnto($replyFd, 1);
            }
            $this->chunk = \FFI::new('char[65536]');
            return;
        }
        diagnostic('the FFI extension is not available: the protocol descriptors stay within '
            . 'user code\'s reach');
        $this->inStream = fopen('php://fd/0', 'rb');
        $this->outStream = fopen('php://fd/' . $replyFd, 'wb');
    }

    private function privateCopy(int $fd): int
    {
        $copy = $this->libc->fcntl($fd, 1030 /* F_DUPFD_CLOEXEC */, PRIVATE_FD_MIN);
        if ($copy < 0) {  // a descriptor limit below PRIVATE_FD_MIN
            $copy = $this->libc->fcntl($fd, 1030, 3);
        }
        if ($copy < 0) {
            fwrite(STDERR, PREFIX . "cannot copy the protocol descriptor $fd\n");
            exit(1);
        }
        return $copy;
    }

    private function nullOnto(int $fd, int $flags): void
    {
        $null = $this->libc->open('/dev/null', $flags | 0x80000 /* O_CLOEXEC */);
        if ($null >= 0) {
            $this->libc->dup2($null, $fd);
            $this->libc->close($null);
        }
    }

    private function errno(): int
    {
        return $this->libc->__errno_location()[0];
    }

    /** The next request line, or null at end of input. */
    public function receive(): ?string
    {
        while (true) {
            $newline = strpos($this->buffer, "\n");
            if ($newline !== false) {
                $line = substr($this->buffer, 0, $newline);
                $this->buffer = (string) substr($this->buffer, $newline + 1);
                return $line;
            }
            if ($this->libc === null) {
                $data = fgets($this->inStream);
                if ($data === false) {
                    return $this->rest();
                }
                $this->buffer .= $data;
                continue;
            }
            $n = $this->libc->read($this->in, $this->chunk, 65536);
            if ($n < 0) {
                if ($this->errno() === 4 /* EINTR */) {
                    continue;
                }
                diagnostic('cannot read requests (errno ' . $this->errno() . ')');
                exit(1);
            }
            if ($n === 0) {
                return $this->rest();
            }
            $this->buffer .= \FFI::string($this->chunk, $n);
        }
    }

    private function rest(): ?string
    {
        if ($this->buffer === '') {
            return null;
        }
        $line = $this->buffer;
        $this->buffer = '';
        return $line;
    }

    public function send(array $message): void
    {
        $data = json_encode($message, JSON_FLAGS) . "\n";
        if ($this->libc === null) {
            $ok = @fwrite($this->outStream, $data) === strlen($data) && @fflush($this->outStream);
            if (!$ok) {
                exit(0);  // nobody is listening any more
            }
            return;
        }
        while ($data !== '') {
            $n = $this->libc->write($this->out, $data, strlen($data));
            if ($n < 0) {
                $errno = $this->errno();
                if ($errno === 4 || $errno === 11 /* EINTR, EAGAIN */) {
                    usleep(1000);
                    continue;
                }
                exit(0);  // EPIPE: the emulator stopped listening
            }
            $data = (string) substr($data, $n);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The worker
// ------------------------------------------------------------------------------------------------

final class Worker
{
    private $codeDir;
    private $entrypoint;
    private $baseEnv;
    private $function = null;
    private $loadError = null;
    private $loadOut;
    private $firstExecution = true;
    /** @var Sink|null where echoed output goes right now (null: the worker's real stdout) */
    public $out = null;
    public $executionId = null;
    public $channel = null;
    private $bufferLevel = 0;

    public function __construct(string $codeDir, string $entrypoint)
    {
        $this->codeDir = $codeDir;
        $this->entrypoint = $entrypoint;
        $env = getenv();
        $this->baseEnv = is_array($env) ? $env : [];
        $this->loadOut = new Sink();
    }

    /** One output buffer for the worker's life; what it collects goes to the current sink. */
    public function startCapture(): void
    {
        $worker = $this;
        $flags = PHP_OUTPUT_HANDLER_CLEANABLE | PHP_OUTPUT_HANDLER_FLUSHABLE;  // not removable
        ob_start(function ($text) use ($worker) {
            if ($worker->out !== null) {
                $worker->out->add($text);
            } elseif ($text !== '') {
                @fwrite(STDOUT, $text);
            }
            return '';
        }, 8192, $flags);
        $this->bufferLevel = ob_get_level();
    }

    /** Flushes the user's leftover output buffers and ours into the current sink. */
    private function flushCapture(): void
    {
        while (ob_get_level() > $this->bufferLevel) {
            if (!@ob_end_flush()) {
                break;
            }
        }
        @ob_flush();
    }

    public function load(): array
    {
        $this->out = $this->loadOut;
        try {
            $this->function = $this->include();
        } catch (LoadError $e) {
            $this->loadError = $e->getMessage();
        } catch (\Throwable $e) {
            $this->loadError = error_text($e);
        } finally {
            $this->flushCapture();
            $this->out = null;
        }
        if ($this->loadError !== null) {
            return ['type' => 'load_error', 'stderr' => cut_text($this->loadError)];
        }
        return ['type' => 'ready'];
    }

    private function include()
    {
        $rel = str_replace('\\', '/', $this->entrypoint);
        $parts = [];
        foreach (explode('/', $rel) as $part) {
            if ($part === '' || $part === '.') {
                continue;
            }
            if ($part === '..') {
                throw new LoadError("Invalid entrypoint '{$this->entrypoint}': it must be a file "
                    . 'path inside the code.');
            }
            $parts[] = $part;
        }
        $path = $this->codeDir . '/' . implode('/', $parts);
        if (!$parts || !is_file($path)) {
            throw new LoadError("Entrypoint file not found: {$this->entrypoint} (the deployment has "
                . 'no such file; check the function\'s entrypoint).');
        }
        $function = include_user_file($path);
        if (!is_callable($function)) {
            $got = is_object($function) ? get_class($function) : gettype($function);
            throw new LoadError("{$this->entrypoint} does not return a function. Appwrite 1.3 calls "
                . 'the callable the entrypoint file returns: `return function ($req, $res) { ... };` '
                . "(the file returned " . ($function === 1 ? 'nothing' : $got) . ').');
        }
        return $function;
    }

    private function setEnv(array $variables): void
    {
        $env = getenv();
        foreach (is_array($env) ? $env : [] as $key => $_) {
            if (!array_key_exists($key, $this->baseEnv) && !array_key_exists($key, $variables)) {
                putenv((string) $key);
            }
        }
        $all = $this->baseEnv;
        foreach ($variables as $key => $value) {
            $all[(string) $key] = is_scalar($value) ? (string) $value : '';
        }
        foreach ($all as $key => $value) {
            $key = (string) $key;
            if ($key === '' || strpos($key, '=') !== false || strpos($key . $value, "\0") !== false
                || !@putenv("$key=$value")) {
                diagnostic('variable ' . json_encode($key) . ' cannot be put in the environment; '
                    . 'it stays in $req[\'variables\']');
                unset($all[$key]);
            }
        }
        $_ENV = $all;
    }

    public function execute(array $message): array
    {
        $id = $message['id'] ?? null;
        $payload = $message['payload'] ?? '';
        if ($payload === null) {
            $payload = '';
        } elseif (!is_string($payload)) {
            $payload = json_encode($payload, JSON_FORCE_OBJECT);
        }
        $variables = is_array($message['variables'] ?? null) ? $message['variables'] : [];
        $headers = is_array($message['headers'] ?? null) ? $message['headers'] : [];

        $out = new Sink();
        $err = new Sink();
        if ($this->firstExecution || $this->loadError !== null) {
            // What the file echoed while loading belongs to the first execution (1.3 included it
            // lazily, inside the first request); a load error repeats for every execution.
            $out->add($this->loadOut->text());
            $this->firstExecution = false;
        }
        $this->setEnv($variables);
        $status = 200;
        $response = '';
        if ($this->loadError !== null) {
            $err->add($this->loadError);
            return $this->reply($id, 500, '', $out, $err);
        }
        $req = ['variables' => $variables, 'headers' => $headers, 'payload' => $payload];
        $res = new Response();
        $this->out = $out;
        $this->executionId = $id;
        try {
            ($this->function)($req, $res);
            $response = cut_text(response_text($res->response));
            $status = $res->status;
        } catch (\Throwable $e) {
            $this->flushCapture();
            $err->add(error_text($e));
            $status = 500;
            $response = '';
        } finally {
            $this->flushCapture();
            $this->out = null;
            $this->executionId = null;
        }
        return $this->reply($id, $status, $response, $out, $err);
    }

    private function reply($id, int $status, string $response, Sink $out, Sink $err): array
    {
        foreach (['stdout' => $out, 'stderr' => $err] as $name => $sink) {
            if ($sink->dropped) {
                diagnostic("execution $id: $name was cut to its first " . OUTPUT_LIMIT
                    . " bytes ({$sink->dropped} more bytes were dropped)");
            }
        }
        return [
            'type' => 'result',
            'id' => $id,
            'statusCode' => $status,
            'response' => $response,
            'stdout' => $out->text(),
            'stderr' => $err->text(),
        ];
    }

    /** A fatal error (memory exhausted, ...) or exit() ends the process: say why on stderr. */
    public function onShutdown(): void
    {
        if ($this->executionId === null) {
            return;
        }
        $error = error_get_last();
        $fatal = E_ERROR | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_PARSE;
        if ($error !== null && ($error['type'] & $fatal)) {
            $hint = stripos($error['message'], 'memory') !== false ? ' (out of memory)' : '';
            diagnostic("execution {$this->executionId}: PHP Fatal error{$hint}: {$error['message']} "
                . "in {$error['file']} on line {$error['line']}");
        } else {
            diagnostic("execution {$this->executionId}: the function called exit(); the worker "
                . 'process ended');
        }
    }
}

final class LoadError extends \Exception
{
}

/** The user's file, included in a scope of its own (its top-level variables stay local). */
function include_user_file(string $path)
{
    return include $path;
}

/** 1.3's error text (the message, "\r\n", the trace), without the worker's own frames. */
function error_text(\Throwable $e): string
{
    $lines = [get_class($e) . ' thrown in ' . $e->getFile() . ':' . $e->getLine()];
    $n = 0;
    foreach ($e->getTrace() as $frame) {
        if (($frame['file'] ?? '') === __FILE__) {
            break;  // the worker called the user's code here
        }
        $where = isset($frame['file']) ? "{$frame['file']}({$frame['line']})" : '[internal function]';
        $call = ($frame['class'] ?? '') . ($frame['type'] ?? '') . $frame['function'] . '()';
        $lines[] = '#' . $n++ . " $where: $call";
    }
    return $e->getMessage() . "\r\n" . implode("\n", $lines);
}

function parse_args(array $argv): array
{
    $names = ['--code-dir' => 'codeDir', '--entrypoint' => 'entrypoint', '--reply-fd' => 'replyFd'];
    $opts = ['codeDir' => null, 'entrypoint' => null, 'replyFd' => '3'];
    for ($i = 0; $i < count($argv); $i++) {
        $key = $argv[$i];
        $value = null;
        if (strncmp($key, '--', 2) === 0 && strpos($key, '=') !== false) {
            [$key, $value] = explode('=', $key, 2);
        }
        if (!isset($names[$key])) {
            usage("unknown argument {$argv[$i]}");
        }
        if ($value === null) {
            if (++$i >= count($argv)) {
                usage("$key needs a value");
            }
            $value = $argv[$i];
        }
        $opts[$names[$key]] = $value;
    }
    if (!$opts['codeDir'] || !$opts['entrypoint']) {
        usage('--code-dir and --entrypoint are required');
    }
    if (!ctype_digit((string) $opts['replyFd'])) {
        usage('--reply-fd must be a file descriptor number');
    }
    $opts['replyFd'] = (int) $opts['replyFd'];
    $opts['codeDir'] = rtrim(realpath($opts['codeDir']) ?: $opts['codeDir'], '/');
    return $opts;
}

function usage(string $message): void
{
    fwrite(STDERR, "worker.php: $message\n"
        . "usage: php worker.php --code-dir DIR --entrypoint ENTRY [--reply-fd N]\n");
    exit(2);
}

function run(array $argv): void
{
    $opts = parse_args($argv);
    $channel = new Channel($opts['replyFd']);
    $worker = new Worker($opts['codeDir'], $opts['entrypoint']);
    $worker->channel = $channel;
    register_shutdown_function([$worker, 'onShutdown']);
    $_SERVER['argv'] = [$opts['codeDir'] . '/' . $opts['entrypoint']];
    $_SERVER['argc'] = 1;
    $worker->startCapture();
    $channel->send($worker->load());
    while (($line = $channel->receive()) !== null) {
        $line = trim($line);
        if ($line === '') {
            continue;
        }
        $message = json_decode($line, true);
        if ($message === null && json_last_error() !== JSON_ERROR_NONE) {
            diagnostic('ignored a request line that is not JSON: ' . substr($line, 0, 200));
            continue;
        }
        if (!is_array($message) || array_is_list_compat($message)) {
            diagnostic('ignored a request line that is not a JSON object: ' . substr($line, 0, 200));
            continue;
        }
        if (($message['type'] ?? null) !== 'execute') {
            diagnostic('ignored a request of unknown type ' . json_encode($message['type'] ?? null));
            continue;
        }
        $channel->send($worker->execute($message));
    }
    exit(0);
}

function array_is_list_compat(array $value): bool
{
    return $value !== [] && array_keys($value) === range(0, count($value) - 1);
}

run(array_slice($_SERVER['argv'], 1));
