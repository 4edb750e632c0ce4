import FlaksHandlers
import FlaksHTTP

/// Sends a `ResponseBody.stream` body: the producer runs as a Task and writes through a
/// `BodyWriter`; every call on the connection hops onto its loop with `EventLoop.execute`, since a
/// `Connection` never leaves its loop. Back-pressure: when `streamWrite` reports a full queue the
/// writer suspends until the connection calls `outputDrained`. When the connection closes, pending
/// and later writes throw `StreamClosed`.
///
/// The loop never waits on the producer: a producer that stops writing holds only its own
/// connection, and only until the send timer (`keepalive_timeout`, refreshed by every write) runs out.
final class AsyncBodyStream: StreamSource, Sendable {
    private let loop: EventLoop
    private let connectionID: UInt64
    /// Touched on the loop thread only; the Mutex makes that checkable and the class Sendable.
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

    /// Starts `response` (its body is `produce`) on `connection`. Loop thread. A `bodyless` response
    /// (HEAD, 204, 304) sends only its head and never runs the producer.
    static func start(_ response: Response, _ produce: @escaping @Sendable (any BodyWriter) async throws -> Void,
                      on connection: Connection, bodyless: Bool) {
        var head = response
        head.body = .empty
        if bodyless {
            connection.beginStream(head)
            return
        }
        let stream = AsyncBodyStream(loop: connection.loop, connectionID: connection.id)
        connection.attach(stream)
        connection.beginStream(head)
        Task {
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

    private func write(_ bytes: [UInt8], on loop: EventLoop, continuation: CheckedContinuation<Void, any Error>) {
        guard !state.withLock({ $0.done }), let connection = loop.connections[connectionID] else {
            continuation.resume(throwing: StreamClosed())
            return
        }
        connection.deadline = loop.now &+ connection.limits.keepaliveTimeout
        let keepGoing = bytes.withUnsafeBytes { connection.streamWrite($0) }
        // streamWrite may have closed the connection (a write error): connectionClosed ran already.
        let closed = state.withLock { s -> Bool in
            if s.done { return true }
            if !keepGoing { s.waiters.append(continuation) }
            return false
        }
        if closed { continuation.resume(throwing: StreamClosed()) } else if keepGoing { continuation.resume() }
    }

    private func finish(on loop: EventLoop) {
        guard markDone() else { return }
        loop.connections[connectionID]?.streamEnd()
    }

    private func abort(on loop: EventLoop) {
        guard markDone() else { return }
        loop.connections[connectionID]?.streamAbort()
    }

    /// True for the first caller: the stream is over for everyone after.
    private func markDone() -> Bool {
        state.withLock { s in
            if s.done { return false }
            s.done = true
            return true
        }
    }

    func outputDrained() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in ready { c.resume() }
    }

    func connectionClosed() {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in waiting { c.resume(throwing: StreamClosed()) }
    }
}
