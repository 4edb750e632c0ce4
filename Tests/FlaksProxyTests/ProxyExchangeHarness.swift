import FlaksAccess
import FlaksHTTP
import Testing
@testable import FlaksProxy

/// Drives a `ProxyExchange` the way the executor does: keeps a buffer of upstream bytes, calls
/// `upstreamBytesReceived` until `.needMore` or a final action, and records what came out.
struct ExchangeDriver {
    /// How an exchange ended (or that it has not).
    enum End: Equatable, CustomStringConvertible {
        case running
        case finish(reuse: Bool)
        case fail(Int, marksDown: Bool)
        case abort(Int, marksDown: Bool)
        case tunnel(fields: [[String]], leftover: [UInt8])
        case retry
        case tryNext(Int)
        case close
        case closeTunnel

        var description: String {
            switch self {
            case .running: "running"
            case .finish(let r): "finish(reuse: \(r))"
            case .fail(let st, let m): "fail(\(st), marksDown: \(m))"
            case .abort(let st, let m): "abort(\(st), marksDown: \(m))"
            case .tunnel(let f, let l): "tunnel(\(f), leftover: \(String(decoding: l, as: UTF8.self)))"
            case .retry: "retry"
            case .tryNext(let st): "tryNext(\(st))"
            case .close: "close"
            case .closeTunnel: "closeTunnel"
            }
        }
    }

    /// What the client would see.
    struct Outcome: Equatable {
        var interims: [Int] = []
        var interimFields: [[[String]]] = []
        var start: ProxyExchange.ResponseStart?
        var body: [UInt8] = []
        var trailers: [[String]]?
        var end: End = .running
    }

    var exchange: ProxyExchange
    var buffer: [UInt8] = []
    var outcome = Outcome()
    /// Bytes the exchange asked to write upstream (head, framed body).
    var written: [UInt8] = []

    init(_ request: UpstreamRequest, reused: Bool = false, clientVersion: HTTPVersion = .http1_1,
         canReplayBody: Bool = false, configuration: ProxyExchange.Configuration = ProxyExchange.Configuration(),
         now: UInt64 = 0, connect: Bool = true) {
        exchange = ProxyExchange(request: request, configuration: configuration, reused: reused,
                                 clientVersion: clientVersion, canReplayBody: canReplayBody, now: now)
        if connect { written = exchange.connected(now: now) }
    }

    var isOver: Bool { outcome.end != .running }

    /// Records a final action; returns true when the exchange is over.
    mutating func record(_ action: ProxyExchange.Action) -> Bool {
        switch action {
        case .none, .needMore:
            return false
        case .relayInterim(let st, let f):
            outcome.interims.append(st.code)
            outcome.interimFields.append(pairs(f))
            return false
        case .startResponse(let start):
            #expect(outcome.start == nil, "two heads")
            outcome.start = start
            return false
        case .body:
            Issue.record("body outside upstreamBytesReceived")
            return false
        case .trailers(let t):
            outcome.trailers = pairs(t)
            return false
        case .finish(let reuse): outcome.end = .finish(reuse: reuse)
        case .startTunnel(let f): outcome.end = .tunnel(fields: pairs(f), leftover: [])
        case .retry: outcome.end = .retry
        case .tryNextUpstream(let f): outcome.end = .tryNext(f.status.code)
        case .fail(let f): outcome.end = .fail(f.status.code, marksDown: f.marksUpstreamDown)
        case .abort(let f): outcome.end = .abort(f.status.code, marksDown: f.marksUpstreamDown)
        case .close: outcome.end = .close
        case .closeTunnel: outcome.end = .closeTunnel
        case .shutdownClientWrite, .shutdownUpstreamWrite:
            return false
        }
        return true
    }

    /// Feeds `bytes` `step` at a time (nil: all at once) at `now`.
    mutating func feed(_ bytes: [UInt8], step: Int? = nil, now: UInt64) {
        var i = 0
        repeat {
            let n = min(step ?? bytes.count, bytes.count - i)
            buffer += bytes[i..<(i + n)]
            i += n
            drain(now: now)
            if isOver {
                if case .tunnel(let f, _) = outcome.end { outcome.end = .tunnel(fields: f, leftover: buffer + bytes[i...]) }
                return
            }
        } while i < bytes.count
    }

    /// Calls `upstreamBytesReceived` until it wants more bytes or the exchange is over.
    mutating func drain(now: UInt64) {
        var calls = 0
        while !isOver {
            calls += 1
            if calls > 10_000 { Issue.record("no progress"); return }
            let (consumed, action) = buffer.withUnsafeBytes { exchange.upstreamBytesReceived($0, now: now) }
            #expect(consumed <= buffer.count)
            if case .body(let r) = action {
                #expect(!r.isEmpty && r.upperBound <= consumed)
                outcome.body += buffer[r]
                buffer.removeFirst(min(consumed, buffer.count))
                continue
            }
            buffer.removeFirst(min(consumed, buffer.count))
            if case .needMore = action { return }
            if case .none = action { return }
            if record(action) { return }
        }
    }

    /// The upstream closed (EOF) or reset.
    mutating func close(reset: Bool = false, now: UInt64) {
        guard !isOver else { return }
        _ = record(exchange.upstreamClosed(reset: reset, now: now))
    }
}

/// Builds the upstream request for a raw client request (untrusted peer 192.0.2.1, no TLS).
func upstreamRequest(_ raw: String, framing: BodyFraming? = nil, webSocket: Bool = false,
                     passExpect: Bool = false) throws -> UpstreamRequest {
    let head = try #require(parseHead(raw), "request did not parse")
    return try UpstreamRequest(client: head, rules: UpstreamRequest.Rules(),
                               connection: UpstreamRequest.ClientConnection(peer: IPAddress(v4: 0xC000_0201),
                                                                             peerIsTrusted: false, isTLS: false),
                               framing: framing ?? head.framing, webSocket: webSocket, passExpectContinue: passExpect)
}
