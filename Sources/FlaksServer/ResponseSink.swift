import FlaksHandlers
import FlaksHTTP

/// Where a handler's response goes: the connection it answers. A complete response is `send`;
/// a streamed one is `start`, then `write` with back-pressure, then `finish` (or `abort`).
/// `Connection` implements it; CGI scripts, async view bodies, and next the proxy and FastCGI
/// write only to it, never to the connection's internals (h2o's `h2o_send` and generator pair).
/// Loop thread only.
protocol ResponseSink: AnyObject {
    /// `producer` is working on the response: it hears `stop()` if the client leaves before the head.
    func attach(_ producer: any ResponseProducer)
    /// An interim response (1xx other than 101), such as 103 Early Hints from an upstream.
    func informational(_ status: HTTPStatus, headers: HeaderFields)
    /// A complete response, head and body (an error gets the host's error page, if one is set).
    func send(_ response: consuming Response)
    /// Starts a streamed response: the head now, the body through `write`. `length` is the body's
    /// length when known (a producer never sends more than that). `idleLimit`: how long the producer
    /// may stay silent before the response is aborted (nil when it keeps its own timeout).
    /// Returns true when body bytes are wanted; false when the response is already complete (HEAD,
    /// 204, 304) or the client is gone: then the producer writes nothing and hears nothing more.
    func start(status: HTTPStatus, headers: HeaderFields, length: Int?, producer: any ResponseProducer,
               idleLimit: UInt64?) -> Bool
    /// Body bytes. Returns false when the producer should wait for `proceed()` (the client is slow),
    /// or must stop (the client is gone: `stop()` was called).
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Pushes out what is queued (writes are sent eagerly; with compression this also flushes the coder).
    func flush()
    /// The body is complete.
    func finish()
    /// The response cannot be completed. Before the head went out: a 502 is sent instead; after it:
    /// the connection ends without completing the message, so the client sees it was cut short.
    func abort()
    /// Serves `target` (a local path with an optional query) as a GET instead (RFC 3875 §6.2.2). The
    /// client's own method still frames the answer: a HEAD gets no body.
    func internalRedirect(to target: String)
    /// True while no response was started for the request.
    var awaitsResponse: Bool { get }
}

/// The producer of a streamed body, as the sink sees it.
protocol ResponseProducer: AnyObject {
    /// The queued output drained: write more.
    func proceed()
    /// The sink is gone (client left, timeout, shutdown): stop producing and clean up.
    func stop()
}

/// Takes a request's body as it arrives (a proxied upload: never buffered whole), with back-pressure.
protocol RequestBodyConsumer: AnyObject {
    /// Body bytes (de-chunked). Returns false when it cannot take more now: the connection stops
    /// reading the client until `Connection.resumeRequestBody()`.
    func requestBody(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The body is complete.
    func requestBodyEnded()
}

/// The far end of a tunnel: after `101 Switching Protocols`, the client's bytes go to it as they
/// come (a WebSocket relayed to an upstream).
protocol TunnelPeer: AnyObject {
    /// Bytes from the client. Returns false to stop reading the client until `Connection.resumeTunnelInput()`.
    func tunnelFromClient(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The client finished sending (FIN).
    func tunnelClientClosed()
    /// Everything queued for the client was written.
    func tunnelClientDrained()
    /// The client connection closed.
    func tunnelStop()
}
