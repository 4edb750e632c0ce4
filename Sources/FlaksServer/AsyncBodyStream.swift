import FlaksHandlers
import FlaksHTTP

/// Sends a `ResponseBody.stream` body: the producer runs as a Task (on the worker pool) and writes through a
/// `BodyWriter`; every call on the connection hops onto its loop with `EventLoop.execute`, since a
/// `Connection` never leaves its loop, and goes through the connection's `ResponseSink` API.
/// Back-pressure: when `write` reports a full queue the writer suspends until the sink calls
/// `proceed`. When the sink stops the stream, pending and later writes throw `StreamClosed`.
///
/// The loop never waits on the producer: a producer that stops writing holds only its own
/// connection, and only until its idle limit (`keepalive_timeout` since its last write) runs out.
final class AsyncBodyStream: ResponseProducer, Sendable {
    private let loop: EventLoop
    private let connectionID: UInt64
    /// Touched on the loop thread only; the lock makes that checkable and the class Sendable.
    private let state = Locked(State())

    private struct State {
        /// Writes waiting for the client to catch up (normally at most one).
        var waiters: [CheckedContinuation<Void, any Error>] = []
        /// The connection closed, or the stream ended or aborted: no more calls on the connection.
        var done = false
    }

    /// The error a write throws once the connection is gone.
    struct StreamClosed: Error, CustomStringConvertible {
        var description: String { "the connection closed while the response was streamed" }
    }

    private init(loop: EventLoop, connectionID: UInt64) {
        self.loop = loop; self.connectionID = connectionID
    }

    /// Starts `response` (its body is `produce`) on `sink`. Loop thread. A response without a body
    /// (HEAD, 204, 304) sends only its head and never runs the producer. A Content-Length among the
    /// response's fields is kept (the producer must then write exactly that many bytes).
    static func start(_ response: Response, _ produce: @escaping @Sendable (any BodyWriter) async throws -> Void,
                      sink: Connection, loop: EventLoop, idleLimit: UInt64) {
        let length = response.headers["Content-Length"].flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
        let stream = AsyncBodyStream(loop: loop, connectionID: sink.id)
        guard sink.start(status: response.status, headers: response.headers, length: length, producer: stream,
                         idleLimit: idleLimit) else { return }
        // On the worker pool (`ViewTaskExecutor`), as async views are, not on Swift's global pool:
        // each write's continuation comes back through the loop, and on the global pool it waited
        // for a cooperative thread behind whatever else the process ran there (a 16 MiB stream
        // of 64 KiB writes took 49 s beside the test suite's other tests, 0.3 s alone).
        Task(executorPreference: ViewTaskExecutor.shared) {
            do {
                try await produce(Writer(stream: stream))
                stream.loop.execute { stream.finish(on: $0) }
            } catch {
                stream.loop.execute { stream.abort(on: $0) }
            }
        }
    }

    /// The producer's side: queues bytes from the producer's task.
    struct Writer: BodyWriter {
        let stream: AsyncBodyStream
        func write(_ bytes: [UInt8]) async throws {
            if bytes.isEmpty { return }
            let stream = self.stream
            // Checked here too, so a write after the connection closed (and its loop perhaps
            // stopped, at shutdown) throws at once instead of waiting on a loop that is gone.
            if stream.state.withLock({ $0.done }) { throw StreamClosed() }
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                stream.loop.execute { stream.write(bytes, on: $0, continuation: c) }
            }
        }
    }

    // MARK: loop thread

    /// The connection, while this stream is its current producer.
    private func sink(on loop: EventLoop) -> Connection? {
        guard let c = loop.connection(id: connectionID), c.exchange.producer === self else { return nil }
        return c
    }

    private func write(_ bytes: [UInt8], on loop: EventLoop, continuation: CheckedContinuation<Void, any Error>) {
        guard !state.withLock({ $0.done }), let connection = sink(on: loop) else {
            continuation.resume(throwing: StreamClosed())
            return
        }
        // Each write of the producer is a piece it means to send now: flush a compressor after it.
        var keepGoing = bytes.withUnsafeBytes { connection.write($0) }
        if keepGoing { connection.flush(); keepGoing = !connection.isClosed && connection.exchange.producer === self }
        // write may have closed the connection (a write error): stop() ran already.
        let closed = state.withLock { s -> Bool in
            if s.done { return true }
            if !keepGoing { s.waiters.append(continuation) }
            return false
        }
        if closed { continuation.resume(throwing: StreamClosed()) } else if keepGoing { continuation.resume() }
    }

    private func finish(on loop: EventLoop) {
        guard markDone() else { return }
        sink(on: loop)?.finish()
    }

    private func abort(on loop: EventLoop) {
        guard markDone() else { return }
        sink(on: loop)?.abort()
    }

    /// True for the first caller: the stream is over for everyone after.
    private func markDone() -> Bool {
        state.withLock { s in
            if s.done { return false }
            s.done = true
            return true
        }
    }

    func proceed() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in ready { c.resume() }
    }

    func stop() {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in waiting { c.resume(throwing: StreamClosed()) }
    }
}
