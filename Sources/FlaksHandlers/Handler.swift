import FlaksConfig
import FlaksFastCGI
import FlaksHTTP

/// What serves a route. `handle` runs on the selector loop and must not block:
/// anything slow returns `.blocking` (worker pool) or `.async` (Swift concurrency).
public protocol Handler: Sendable {
    /// `consuming`: the server hands its request over (a handler that keeps it, as a view's does
    /// for its worker, takes it without a copy); a handler that only reads it may take it borrowed.
    func handle(_ request: consuming Request) -> HandlerOutcome
}

/// An async handler's work: it hands its response to the receiver. `nonisolated(nonsending)`:
/// it runs on the executor of the task that awaits it, so calling it makes no executor hop on the
/// way in. It delivers the response instead of returning it, so the task's own frame holds no
/// `Response` across the `await` (see `ViewRequest.storage` for why frames are kept small).
public typealias AsyncHandlerJob = nonisolated(nonsending) @Sendable (any ResponseReceiver) async -> Void

/// Takes the response of an async handler's job (once).
public protocol ResponseReceiver: AnyObject, Sendable {
    func receive(_ response: consuming Response)
}

/// How a handler answers: now, or through the worker pool or a Task.
public enum HandlerOutcome: Sendable {
    case response(Response)
    /// Runs on a worker thread; the response goes back to the connection's loop.
    case blocking(@Sendable () -> Response)
    /// Runs as a Task; the response goes back to the connection's loop.
    case async(AsyncHandlerJob)
    /// Runs a CGI script; the loop streams its output to the client.
    case cgi(CGIInvocation)
    /// Sends the request to a FastCGI responder; the loop streams its answer to the client.
    case fastcgi(FastCGIInvocation)
}

/// A request for a FastCGI responder (php-fpm), as the FastCGI handler resolved it: where the
/// responder is, the CGI/1.1 params (RFC 3875 plus SCRIPT_FILENAME, DOCUMENT_ROOT, REQUEST_URI...),
/// the buffered body, and the route's limits. The server's executor (FlaksServer) does the rest.
public struct FastCGIInvocation: Sendable {
    /// The responder: a fixed address (`unix:/path`, `HOST:PORT`) or a service's name.
    public var responder: Responder
    /// The PARAMS records, as `CGIEnvironment.writeParams` wrote them (request ID
    /// `FastCGIResponseMachine.requestID`); `params.pairs` reads them back.
    public var params: FastCGIParamsWriter
    /// The request body (read whole first, so CONTENT_LENGTH is set).
    public var body: [UInt8]
    /// The script's path, for logs.
    public var scriptPath: String
    /// Longest wait for the next byte from the responder, nanoseconds.
    public var timeout: UInt64
    /// Connections to the responder at once, all loops together.
    public var maxConnections: Int

    /// Where the responder is.
    public enum Responder: Sendable, Hashable {
        case unix(String)
        case tcp(host: String, port: Int)
        case service(String)
    }

    public init(responder: Responder, params: FastCGIParamsWriter, body: [UInt8], scriptPath: String, timeout: UInt64,
                maxConnections: Int) {
        self.responder = responder; self.params = params; self.body = body; self.scriptPath = scriptPath
        self.timeout = timeout; self.maxConnections = maxConnections
    }
}

/// A CGI script to run, as the CGI handler resolved it (RFC 3875). The server spawns it
/// (`ChildSpawner`) and drives its pipes from the connection's loop.
public struct CGIInvocation: Sendable {
    /// The program to execute, an absolute path: the script itself, or its interpreter.
    public var executable: String
    /// argv, including argv[0].
    public var arguments: [String]
    /// The complete environment (nothing leaks from the server's own), as execve takes it.
    public var environmentBlock: CGIEnvironmentBlock
    /// The environment as "NAME=value" strings, in the order of `environmentBlock`.
    public var environment: [String] { environmentBlock.entries }
    /// The directory the script runs in (the script's own directory).
    public var workingDirectory: String
    /// The script's path, for logs.
    public var scriptPath: String
    /// The request body, written to the script's stdin.
    public var body: [UInt8]
    /// `cgi.timeout` and `cgi.max_processes` of the site the request started on.
    public var settings: CGISettings

    public init(executable: String, arguments: [String], environment: CGIEnvironmentBlock, workingDirectory: String,
                scriptPath: String, body: [UInt8], settings: CGISettings = CGISettings()) {
        self.executable = executable; self.arguments = arguments; self.environmentBlock = environment
        self.workingDirectory = workingDirectory; self.scriptPath = scriptPath; self.body = body
        self.settings = settings
    }
}
