import Testing
@testable import FlaksFastCGI

/// The per-request state machine, driven with responder bytes fed whole, split at every byte
/// and byte by byte, without sockets.
@Suite struct ExchangeTests {
    enum Item: Equatable {
        case out([UInt8]), err([FastCGIStderrLine]), complete(UInt32, FastCGI.ProtocolStatus, keep: Bool), failed(FastCGIError)
    }

    /// Runs the executor's loop: call `bytesReceived` with the unconsumed bytes, drop `consumed`,
    /// and call again until `.needMoreBytes`; then feed the next slice. After `.failed` it stops.
    static func run(_ exchange: FastCGIExchange, _ data: [UInt8], slices: [Int],
                    sourceLocation: SourceLocation = #_sourceLocation) -> (items: [Item], exchange: FastCGIExchange) {
        var ex = exchange
        var items: [Item] = []
        var buffer: [UInt8] = []
        var fed = 0, sliceIndex = 0
        for _ in 0..<(4 * data.count + 16) {
            let step = buffer.withUnsafeBytes { ex.bytesReceived($0) }
            #expect(step.consumed >= 0 && step.consumed <= buffer.count, sourceLocation: sourceLocation)
            switch step.action {
            case .stdout(let r):
                #expect(!r.isEmpty && r.upperBound <= step.consumed, sourceLocation: sourceLocation)
                if case .out(let prev)? = items.last { items[items.count - 1] = .out(prev + buffer[r]) } else { items.append(.out(Array(buffer[r]))) }
            case .stderr(let lines):
                #expect(!lines.isEmpty, sourceLocation: sourceLocation)
                if case .err(let prev)? = items.last { items[items.count - 1] = .err(prev + lines) } else { items.append(.err(lines)) }
            case .complete(let a, let s, let keep):
                items.append(.complete(a, s, keep: keep))
            case .failed(let e):
                items.append(.failed(e))
                // Sticky.
                #expect(buffer.withUnsafeBytes { ex.bytesReceived($0) }.action == .failed(e), sourceLocation: sourceLocation)
                return (items, ex)
            case .needMoreBytes:
                buffer.removeFirst(step.consumed)
                if fed == data.count { return (items, ex) }
                let n = sliceIndex < slices.count ? slices[sliceIndex] : data.count - fed
                sliceIndex += 1
                let take = min(max(n, 1), data.count - fed)
                buffer += data[fed..<(fed + take)]
                fed += take
                continue
            }
            buffer.removeFirst(step.consumed)
        }
        Issue.record("no progress", sourceLocation: sourceLocation)
        return (items, ex)
    }

    /// Whole, split at every byte, byte by byte: all must agree. Returns the whole run.
    static func runEveryWay(_ exchange: FastCGIExchange, _ data: [UInt8],
                            sourceLocation: SourceLocation = #_sourceLocation) -> (items: [Item], exchange: FastCGIExchange) {
        let whole = run(exchange, data, slices: [data.count], sourceLocation: sourceLocation)
        for cut in cutPoints(data.count) {
            let split = run(exchange, data, slices: [cut], sourceLocation: sourceLocation)
            #expect(split.items == whole.items, "split at \(cut)", sourceLocation: sourceLocation)
            if split.items != whole.items { break }
        }
        #expect(run(exchange, data, slices: Array(repeating: 1, count: data.count), sourceLocation: sourceLocation).items == whole.items,
                "byte by byte", sourceLocation: sourceLocation)
        return whole
    }

    static func started(keep: Bool = true, body: [UInt8]? = [], stdinEnded: Bool = true) -> FastCGIExchange {
        var ex = FastCGIExchange(keepConnection: keep)
        _ = try? ex.start(params: [FastCGIParam("SCRIPT_FILENAME", "/srv/x.php")], body: body)
        if body == nil, stdinEnded {
            var sink: [UInt8] = []
            ex.stdinEnded(appendingTo: &sink)
        }
        return ex
    }

    func line(_ s: String, truncated: Bool = false) -> FastCGIStderrLine { FastCGIStderrLine(text: s, truncated: truncated) }

    @Test func startWritesTheWholeHead() throws {
        var ex = FastCGIExchange()
        let head = try ex.start(params: FastCGIParam.list(["REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3"]), body: bytes("abc"))
        let sent = try SentRequest.read(head)
        #expect(sent.flags == 1 && sent.role == 1 && sent.requestID == 1)
        #expect(try sent.params == [FastCGIParam("CONTENT_LENGTH", "3"), FastCGIParam("REQUEST_METHOD", "POST")])
        #expect(sent.stdin == bytes("abc") && sent.stdinEnded && ex.isStdinEnded)
    }

    @Test func streamedBody() throws {
        var ex = FastCGIExchange(requestID: 9, keepConnection: false)
        var wire = try ex.start(params: [], body: nil)
        #expect(!ex.isStdinEnded)
        let chunks = [bytes("first "), [], [UInt8](repeating: 0x7a, count: 70_000), bytes("last")]
        for c in chunks { c.withUnsafeBytes { ex.stdinBytes($0, appendingTo: &wire) } }
        ex.stdinEnded(appendingTo: &wire)
        let sent = try SentRequest.read(wire)
        #expect(sent.requestID == 9 && sent.flags == 0)
        #expect(sent.stdin == chunks.flatMap { $0 } && sent.stdinEnded && ex.isStdinEnded)
    }

    @Test func encodingErrorLeavesTheExchangeUnstarted() throws {
        var ex = FastCGIExchange()
        let huge = FastCGIParam(name: bytes("HTTP_COOKIE"), value: [UInt8](repeating: 0x61, count: 70_000))
        #expect(throws: FastCGIEncodingError.paramTooLong(name: "HTTP_COOKIE", encodedLength: 70_016)) {
            _ = try ex.start(params: [huge], body: [])
        }
        #expect(!ex.isStdinEnded)
        _ = try ex.start(params: [], body: [])
        #expect(ex.isStdinEnded)
    }

    @Test func aNormalAnswerCompletesAndKeepsTheConnection() {
        let response = stdout("Content-type: text/plain\r\n\r\nhello") + stdout("") + endRequest()
        let r = Self.runEveryWay(Self.started(), response)
        #expect(r.items == [.out(bytes("Content-type: text/plain\r\n\r\nhello")), .complete(0, .requestComplete, keep: true)])
        #expect(r.exchange.receivedAnyByte && r.exchange.isFinished)
        #expect(r.exchange.stdoutByteCount == 33)
        var ex = r.exchange
        #expect(ex.responderClosed() == nil, "EOF after END_REQUEST is not an error")
    }

    @Test func stderrBecomesLinesAndTheLastLineComesBeforeComplete() {
        let response = stderr("PHP message: one\nPHP mess") + stdout("X: 1\r\n\r\n") + stderr("age: two\r\n") + stderr("tail")
            + stdout("body") + endRequest(app: 3)
        let r = Self.runEveryWay(Self.started(), response)
        #expect(r.items == [.err([line("PHP message: one")]), .out(bytes("X: 1\r\n\r\n")), .err([line("PHP message: two")]),
                            .out(bytes("body")), .err([line("tail")]), .complete(3, .requestComplete, keep: true)])
    }

    @Test func longStderrLinesAreCut() {
        var ex = FastCGIExchange(maxStderrLine: 10)
        _ = try? ex.start(params: [], body: [])
        let r = Self.runEveryWay(ex, stderr("0123456789X-dropped\nok\n") + endRequest())
        #expect(r.items == [.err([line("0123456789", truncated: true), line("ok")]), .complete(0, .requestComplete, keep: true)])
    }

    @Test func connectionIsNotKeptWithoutKeepConn() {
        let r = Self.runEveryWay(Self.started(keep: false), stdout("a") + endRequest())
        #expect(r.items == [.out(bytes("a")), .complete(0, .requestComplete, keep: false)])
    }

    @Test func connectionIsNotKeptWhenTheBodyWasNotFullySent() {
        // php-fpm answered while STDIN was still being streamed: the rest of the body would be
        // read as the start of the next request.
        let r = Self.runEveryWay(Self.started(body: nil, stdinEnded: false), stdout("a") + endRequest())
        #expect(r.items == [.out(bytes("a")), .complete(0, .requestComplete, keep: false)])
        // The same with a last STDERR line pending: the decision is taken at END_REQUEST.
        let r2 = Self.runEveryWay(Self.started(body: nil, stdinEnded: false), stderr("x") + endRequest())
        #expect(r2.items == [.err([line("x")]), .complete(0, .requestComplete, keep: false)])
    }

    @Test(arguments: [(UInt8(1), FastCGI.ProtocolStatus.cantMultiplexConnection), (2, .overloaded), (3, .unknownRole)])
    func rejectedRequestsCompleteWithoutKeep(_ raw: UInt8, _ status: FastCGI.ProtocolStatus) {
        let r = Self.runEveryWay(Self.started(), endRequest(status: raw))
        #expect(r.items == [.complete(0, status, keep: false)])
        #expect(r.exchange.stdoutByteCount == 0)
    }

    @Test func bytesAfterEndRequest() {
        // In the same read: complete, but the connection must not be reused; the executor's next
        // call (its buffer is not empty) reports the failure.
        let data = stdout("a") + endRequest() + [1]
        let whole = Self.run(Self.started(), data, slices: [data.count])
        #expect(whole.items == [.out(bytes("a")), .complete(0, .requestComplete, keep: false), .failed(.contentAfterEndRequest)])
        // In a later read: the request completed (kept), and the late byte is the failure.
        let late = Self.run(Self.started(), data, slices: [data.count - 1])
        #expect(late.items == [.out(bytes("a")), .complete(0, .requestComplete, keep: true), .failed(.contentAfterEndRequest)])
        // With a pending STDERR line the trailing byte is seen when `.complete` is returned.
        let pending = stderr("x") + endRequest() + [1]
        #expect(Self.run(Self.started(), pending, slices: [pending.count]).items
                == [.err([line("x")]), .complete(0, .requestComplete, keep: false), .failed(.contentAfterEndRequest)])
    }

    @Test func closedBeforeAnyByte() {
        var ex = Self.started()
        #expect(!ex.receivedAnyByte)
        #expect([UInt8]().withUnsafeBytes { ex.bytesReceived($0) } == FastCGIExchange.Step(action: .needMoreBytes, consumed: 0))
        #expect(!ex.receivedAnyByte, "an empty read is not a byte")
        #expect(ex.responderClosed() == .closedBeforeAnyByte)
        #expect(!ex.receivedAnyByte && ex.isFinished)
        #expect(ex.responderClosed() == .closedBeforeAnyByte)
        #expect([UInt8]().withUnsafeBytes { ex.bytesReceived($0) }.action == .failed(.closedBeforeAnyByte))
    }

    @Test func closedBeforeEndRequest() {
        // Even a partial header counts as "a byte arrived": the request may have run, no retry.
        for data in [[UInt8(1)], stdout("partial"), stdout("a") + Array(endRequest().prefix(15))] {
            var ex = Self.run(Self.started(), data, slices: [data.count]).exchange
            #expect(ex.receivedAnyByte)
            #expect(ex.responderClosed() == .closedBeforeEndRequest)
        }
    }

    @Test func unknownTypeFromTheResponderFails() {
        let r = Self.runEveryWay(Self.started(), rec(11, id: 0, [5, 0, 0, 0, 0, 0, 0, 0]))
        #expect(r.items == [.failed(.typeNotUnderstood(5))])
        #expect(FastCGIError.typeNotUnderstood(5).reason.contains("5"))
    }

    @Test func getValuesResultIsIgnored() {
        let r = Self.runEveryWay(Self.started(), rec(10, id: 0, [1, 1, 0x41, 0x42]) + stdout("a") + endRequest())
        #expect(r.items == [.out(bytes("a")), .complete(0, .requestComplete, keep: true)])
    }

    @Test func protocolErrorsFail() {
        let r = Self.runEveryWay(Self.started(), stdout("ok") + stdout("x", id: 2))
        #expect(r.items == [.out(bytes("ok")), .failed(.unexpectedRequestID(type: .stdout, received: 2, expected: 1))])
        var ex = r.exchange
        #expect(ex.responderClosed() == .unexpectedRequestID(type: .stdout, received: 2, expected: 1))
        #expect(r.exchange.stdoutByteCount == 2)
    }

    @Test func stderrRemainderAfterAFailure() {
        var ex = Self.run(Self.started(), stderr("half a line"), slices: [100]).exchange
        #expect(ex.responderClosed() == .closedBeforeEndRequest)
        #expect(ex.takeStderrRemainder() == line("half a line"))
        #expect(ex.takeStderrRemainder() == nil)
    }
}
