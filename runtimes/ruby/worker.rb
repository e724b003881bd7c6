# frozen_string_literal: true

# Ruby worker for Appwrite 1.3 functions (the open-runtimes v2 `def main(req, res)` contract).
#
# The emulator starts one of these per warm deployment and talks to it over the line protocol in
# runtimes/README.md: requests arrive on stdin, replies leave on fd 3 (or --reply-fd); at start-up
# both move to private close-on-exec descriptors and user code gets /dev/null in their place. As in
# 1.3, the entrypoint file is `load`ed for every request (so its top level runs again each time),
# then its top-level `main(req, res)` is called, and what `main` returns is the response:
# `res.send(text)` and `res.json(object)` take no status and return their argument.
#
# Ruby 2.7 or newer, standard library only. Runs with or without RubyGems (`--disable-gems`).

require 'json'

module AppwriteWorker
  PREFIX = '[appwrite-worker] '
  # Appwrite 1.3 keeps the first 1,000,000 bytes (UTF-8) of `response`, `stdout` and `stderr`.
  OUTPUT_LIMIT = 1_000_000
  # The protocol descriptors are moved to this number or above, out of the way of user code.
  PRIVATE_FD_MIN = 100
  F_DUPFD = 0
  WORKER_FILE = File.expand_path(__FILE__)
  REAL_STDOUT = $stdout
  REAL_STDERR = $stderr
  REAL_STDOUT.sync = true # what escapes the capture reaches the emulator's log at once

  def self.diagnostic(text)
    REAL_STDERR.write("#{PREFIX}#{text}\n")
  rescue StandardError
    nil
  end

  # The longest prefix of `text` that fits in `limit` UTF-8 bytes, never splitting a character.
  def self.cut_text(text, limit = OUTPUT_LIMIT)
    text = text.dup.force_encoding(Encoding::UTF_8)
    return text if text.bytesize <= limit

    finish = limit
    finish -= 1 while finish.positive? && (text.getbyte(finish) & 0xC0) == 0x80
    text.byteslice(0, finish)
  end

  # One captured stream of one execution: keeps its first OUTPUT_LIMIT bytes, counts the rest.
  class Sink
    attr_reader :dropped

    def initialize
      @parts = []
      @room = OUTPUT_LIMIT
      @dropped = 0
    end

    def add(text)
      return if text.empty?

      if @room <= 0
        @dropped += text.bytesize
        return
      end
      kept = AppwriteWorker.cut_text(text, @room)
      @parts << kept
      @room -= kept.bytesize
      return if kept.bytesize == text.bytesize

      @dropped += text.bytesize - kept.bytesize
      @room = 0
    end

    def text
      @parts.join.force_encoding(Encoding::UTF_8).scrub
    end

    def empty?
      @parts.empty?
    end

    def ends_with_newline?
      !@parts.empty? && @parts.last.end_with?("\n")
    end
  end

  # The long-lived stand-in for $stdout / $stderr: text goes to the execution being served, or to
  # the worker's real stream between executions. (A Logger made at load time keeps working.)
  class Capture
    attr_accessor :sink

    def initialize(real)
      @real = real
      @sink = nil
    end

    def write(*texts)
      size = 0
      texts.each do |text|
        text = text.to_s
        size += text.bytesize
        if @sink
          @sink.add(text)
        else
          @real.write(text)
        end
      end
      size
    end

    def <<(text)
      write(text)
      self
    end

    def print(*texts)
      texts.each { |text| write(text.to_s) }
      nil
    end

    def printf(format, *args)
      write(format % args)
      nil
    end

    def puts(*texts)
      texts = [''] if texts.empty?
      texts.flatten.each do |text|
        text = text.nil? ? '' : text.to_s
        write(text.end_with?("\n") ? text : "#{text}\n")
      end
      nil
    end

    def flush
      self
    end

    def sync
      true
    end

    def sync=(_value); end

    def tty?
      false
    end
    alias isatty tty?

    def fileno
      nil
    end
  end

  # `req` of the v2 contract.
  class Request
    attr_reader :payload, :variables, :headers

    def initialize(payload, variables, headers)
      @payload = payload
      @variables = variables
      @headers = headers
    end
  end

  # `res` of the v2 contract: no status argument; each method returns its argument, because the
  # response is what `main` returns.
  class Response
    def send(message)
      @response = message
    end

    def json(object)
      @response = object
    end
  end

  class LoadError < StandardError; end

  # The `response` string for the value `main` returned.
  def self.response_text(value)
    case value
    when nil, false then ''
    when true then '1'
    when String then value
    when Symbol, Integer, Float then value.to_s
    when Hash, Array then JSON.generate(value)
    else value.respond_to?(:to_json) ? value.to_json : value.to_s
    end
  end

  # 1.3's error text: what the execution wrote to $stderr, then the error and its backtrace,
  # without the worker's own frames.
  def self.error_text(error)
    frames = []
    (error.backtrace || []).each do |frame|
      break if frame.start_with?(WORKER_FILE)

      frames << frame
    end
    return "#{error.message} (#{error.class})" if frames.empty? # a SyntaxError names its place

    head = "#{frames.first}: #{error.message} (#{error.class})"
    ([head] + frames.drop(1).map { |frame| "\tfrom #{frame}" }).join("\n")
  end

  # Requests in and replies out on private close-on-exec descriptors; fd 0 and the reply fd get
  # /dev/null, so user code (and processes it starts) cannot disturb the protocol.
  class Channel
    def initialize(reply_fd)
      @in = private_copy(0, 'rb')
      $stdin.reopen(File.open(File::NULL, 'r'))
      if reply_fd > 2
        @out = private_copy(reply_fd, 'wb')
        IO.for_fd(reply_fd, autoclose: false).reopen(File.open(File::NULL, 'w'))
      else
        @out = IO.for_fd(reply_fd, 'wb', autoclose: false)
      end
      @out.sync = true
    end

    def private_copy(fd, mode)
      original = IO.for_fd(fd, autoclose: false)
      number = begin
        original.fcntl(F_DUPFD, PRIVATE_FD_MIN)
      rescue SystemCallError # a descriptor limit below PRIVATE_FD_MIN
        original.fcntl(F_DUPFD, 3)
      end
      copy = IO.for_fd(number, mode)
      copy.close_on_exec = true
      copy
    end

    def send(message)
      @out.write(JSON.generate(message) + "\n")
    rescue SystemCallError, IOError
      exit!(0) # nobody is listening any more
    end

    # The next request as a Hash, or nil at end of input.
    def receive
      loop do
        line = @in.gets
        return nil if line.nil?

        line = line.strip
        next if line.empty?

        begin
          message = JSON.parse(line)
        rescue JSON::ParserError
          AppwriteWorker.diagnostic("ignored a request line that is not JSON: #{line[0, 200]}")
          next
        end
        return message if message.is_a?(Hash)

        AppwriteWorker.diagnostic('ignored a request that is not a JSON object')
      end
    end
  end

  # Loads the entrypoint and serves executions, one at a time.
  class Worker
    def initialize(code_dir, entrypoint)
      @code_dir = code_dir
      @entrypoint = entrypoint
      @base_env = ENV.to_h
      @out = Capture.new(REAL_STDOUT)
      @err = Capture.new(REAL_STDERR)
      @load_error = nil
      @loaded = nil # what the start-up load wrote, for the first execution
    end

    def path
      rel = @entrypoint.tr('\\', '/')
      parts = rel.split('/').reject { |part| part.empty? || part == '.' }
      if parts.include?('..') || parts.empty?
        raise LoadError, "Invalid entrypoint #{@entrypoint.inspect}: it must be a file path " \
                         'inside the code.'
      end
      full = File.join(@code_dir, *parts)
      unless File.file?(full)
        raise LoadError, "Entrypoint file not found: #{@entrypoint} (the deployment has no such " \
                         "file; check the function's entrypoint)."
      end
      full
    end

    # `load`s the entrypoint (as 1.3 did on every request) with output going to the sinks.
    def load_entrypoint(out, err)
      capture(out, err) do
        Kernel.load(path)
        unless TOPLEVEL_BINDING.receiver.respond_to?(:main, true)
          raise LoadError, "#{@entrypoint} does not define a main method. Appwrite 1.3 calls " \
                           '`def main(req, res)` in the entrypoint file.'
        end
      end
    end

    def capture(out, err)
      saved = [$stdout, $stderr]
      @out.sink = out
      @err.sink = err
      $stdout = @out
      $stderr = @err
      yield
    ensure
      $stdout, $stderr = saved if saved
      @out.sink = nil
      @err.sink = nil
    end

    def hello
      out = Sink.new
      err = Sink.new
      begin
        load_entrypoint(out, err)
      rescue LoadError => e
        @load_error = "#{e.message}\n"
      rescue ScriptError, StandardError, NoMemoryError, SystemExit => e
        @load_error = "#{AppwriteWorker.error_text(e)}\n"
      end
      if @load_error.nil?
        @loaded = [out, err]
        return { 'type' => 'ready' }
      end
      # A load error fails every execution, with what the file wrote while loading.
      @load_out = out.text
      @load_error = err.text + @load_error
      { 'type' => 'load_error', 'stderr' => AppwriteWorker.cut_text(@load_error) }
    end

    def set_env(variables)
      env = @base_env.dup
      variables.each do |key, value|
        key = key.to_s
        if key.empty? || key.include?('=') || key.include?("\0") || value.to_s.include?("\0")
          AppwriteWorker.diagnostic("variable #{key.inspect} cannot be put in ENV; it stays in " \
                                    'req.variables')
          next
        end
        env[key] = value.nil? ? '' : value.to_s
      end
      ENV.replace(env)
    end

    def execute(message)
      id = message['id']
      payload = message['payload']
      payload = '' if payload.nil?
      payload = JSON.generate(payload) unless payload.is_a?(String)
      variables = message['variables'].is_a?(Hash) ? message['variables'] : {}
      headers = message['headers'].is_a?(Hash) ? message['headers'] : {}

      if @loaded
        out, err = @loaded # the first execution: the start-up load was its load
        @loaded = nil
        fresh_load = false
      else
        out = Sink.new
        err = Sink.new
        fresh_load = true
      end
      set_env(variables)
      status = 200
      response = ''
      begin
        raise LoadError, @load_error if @load_error

        load_entrypoint(out, err) if fresh_load
        request = Request.new(payload, variables.dup, headers.dup)
        result = capture(out, err) do
          TOPLEVEL_BINDING.receiver.send(:main, request, Response.new)
        end
        response = AppwriteWorker.cut_text(AppwriteWorker.response_text(result))
      rescue LoadError => e
        out.add(@load_out) if @load_error
        err.add(e.message)
        status = 500
      rescue ScriptError, StandardError, NoMemoryError, SystemExit, SystemStackError => e
        err.add("\n") unless err.empty? || err.ends_with_newline?
        err.add(AppwriteWorker.error_text(e))
        status = 500
        response = ''
      end
      reply(id, status, response, out, err)
    end

    def reply(id, status, response, out, err)
      { 'stdout' => out, 'stderr' => err }.each do |name, sink|
        next if sink.dropped.zero?

        AppwriteWorker.diagnostic("execution #{id}: #{name} was cut to its first #{OUTPUT_LIMIT} " \
                                  "bytes (#{sink.dropped} more bytes were dropped)")
      end
      {
        'type' => 'result', 'id' => id, 'statusCode' => status, 'response' => response,
        'stdout' => out.text, 'stderr' => err.text
      }
    end
  end

  def self.usage(message)
    REAL_STDERR.write("worker.rb: #{message}\n" \
                      "usage: ruby worker.rb --code-dir DIR --entrypoint ENTRY [--reply-fd N]\n")
    exit!(2)
  end

  def self.parse_args(argv)
    names = { '--code-dir' => :code_dir, '--entrypoint' => :entrypoint, '--reply-fd' => :reply_fd }
    opts = { code_dir: nil, entrypoint: nil, reply_fd: '3' }
    index = 0
    while index < argv.length
      key = argv[index]
      value = nil
      key, value = key.split('=', 2) if key.start_with?('--') && key.include?('=')
      usage("unknown argument #{argv[index]}") unless names.key?(key)
      if value.nil?
        index += 1
        usage("#{key} needs a value") if index >= argv.length
        value = argv[index]
      end
      opts[names[key]] = value
      index += 1
    end
    usage('--code-dir and --entrypoint are required') unless opts[:code_dir] && opts[:entrypoint]
    usage('--reply-fd must be a file descriptor number') unless opts[:reply_fd] =~ /\A\d+\z/
    opts[:reply_fd] = opts[:reply_fd].to_i
    opts[:code_dir] = File.expand_path(opts[:code_dir])
    opts
  end

  def self.run(argv)
    opts = parse_args(argv)
    channel = Channel.new(opts[:reply_fd])
    worker = Worker.new(opts[:code_dir], opts[:entrypoint])
    ARGV.clear
    channel.send(worker.hello)
    while (message = channel.receive)
      if message['type'] == 'execute'
        channel.send(worker.execute(message))
      else
        diagnostic("ignored a request of unknown type #{message['type'].inspect}")
      end
    end
    exit!(0)
  end
end

AppwriteWorker.run(ARGV.dup)
