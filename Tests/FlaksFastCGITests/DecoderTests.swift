import Testing
@testable import FlaksFastCGI
import FlaksTestSupport

/// One decoder case: responder bytes and what must come out.
struct DecoderCase: CustomTestStringConvertible, Sendable {
    let name: String
    let input: [UInt8]
    let items: [DecodeOutcome.Item]
    let error: FastCGIError?
    let leftover: Int
    init(_ name: String, _ input: [UInt8], _ items: [DecodeOutcome.Item], error: FastCGIError? = nil, leftover: Int = 0) {
        self.name = name; self.input = input; self.items = items; self.error = error; self.leftover = leftover
    }
    var testDescription: String { name }
}

extension DecodeOutcome.Item: @unchecked Sendable {}

/// Table-driven decoder cases, each run whole, split in two at every byte and byte by byte.
@Suite struct DecoderTests {
    static let complete = DecodeOutcome.Item.end(0, .requestComplete)
    static func out(_ s: String) -> DecodeOutcome.Item { .out(bytes(s)) }
    static func err(_ s: String) -> DecodeOutcome.Item { .err(bytes(s)) }

    static let valid: [DecoderCase] = [
        DecoderCase("empty input", [], []),
        DecoderCase("a php-fpm answer: STDOUT, empty STDOUT, END_REQUEST",
                    stdout("Content-type: text/html\r\n\r\nhi") + stdout("") + endRequest(), [out("Content-type: text/html\r\n\r\nhi"), complete]),
        DecoderCase("STDOUT spread over records is one stream", stdout("abc") + stdout("defgh") + stdout("i") + endRequest(),
                    [out("abcdefghi"), complete]),
        DecoderCase("STDOUT and STDERR interleaved keep their order",
                    stdout("a") + stderr("warn\n") + stdout("b") + stderr("") + stdout("") + endRequest(),
                    [out("a"), err("warn\n"), out("b"), complete]),
        DecoderCase("appStatus is big-endian", endRequest(app: 0x0102_0304), [.end(0x0102_0304, .requestComplete)]),
        DecoderCase("CANT_MPX_CONN", endRequest(status: 1), [.end(0, .cantMultiplexConnection)]),
        DecoderCase("OVERLOADED", endRequest(status: 2), [.end(0, .overloaded)]),
        DecoderCase("UNKNOWN_ROLE", endRequest(status: 3), [.end(0, .unknownRole)]),
        DecoderCase("records without padding", stdout("abc", padding: 0) + rec(3, [0, 0, 0, 0, 0, 0, 0, 0], padding: 0), [out("abc"), complete]),
        DecoderCase("padding of exactly 7 (the limit)", stdout("a", padding: 7) + endRequest(), [out("a"), complete]),
        DecoderCase("END_REQUEST with padding", rec(3, [0, 0, 0, 9, 0, 0, 0, 0], padding: 7), [.end(9, .requestComplete)]),
        DecoderCase("empty STDOUT record with padding is skipped", rec(6, [], padding: 5) + stdout("x") + endRequest(), [out("x"), complete]),
        DecoderCase("STDOUT after the empty STDOUT record is accepted", stdout("a") + stdout("") + stdout("b") + endRequest(),
                    [out("ab"), complete]),
        DecoderCase("a 65535-byte STDOUT record", rec(6, [UInt8](repeating: 0x61, count: 65535)) + endRequest(),
                    [.out([UInt8](repeating: 0x61, count: 65535)), complete]),
        DecoderCase("GET_VALUES_RESULT (request id 0) is decoded",
                    rec(10, id: 0, [14, 1] + bytes("FCGI_MAX_CONNS") + bytes("2") + [15, 1] + bytes("FCGI_MPXS_CONNS") + bytes("0")),
                    [.values([FastCGIParam("FCGI_MAX_CONNS", "2"), FastCGIParam("FCGI_MPXS_CONNS", "0")])]),
        DecoderCase("empty GET_VALUES_RESULT", rec(10, id: 0, []), [.values([])]),
        DecoderCase("UNKNOWN_TYPE (request id 0)", rec(11, id: 0, [8, 0, 0, 0, 0, 0, 0, 0]), [.unknown(8)]),
        DecoderCase("END_REQUEST not yet complete stays in the buffer", stdout("a") + Array(endRequest().prefix(12)),
                    [out("a")], leftover: 12),
        DecoderCase("END_REQUEST whose padding has not arrived stays in the buffer",
                    Array(rec(3, [0, 0, 0, 0, 0, 0, 0, 0], padding: 4).prefix(17)), [], leftover: 17),
        DecoderCase("a header cut short stays in the buffer", stdout("ab") + [1, 6, 0], [out("ab")], leftover: 3),
        DecoderCase("STDOUT content cut short is handed out as it comes", Array(stdout("abcdef").prefix(11)), [out("abc")]),
        DecoderCase("request id 0x1234", stdout("a", id: 0x1234) + endRequest(id: 0x1234), []),  // checked with its own id below
    ]

    static let errors: [DecoderCase] = [
        DecoderCase("version 0", rec(6, bytes("a"), version: 0), [], error: .unsupportedVersion(0)),
        DecoderCase("version 2", rec(6, bytes("a"), version: 2), [], error: .unsupportedVersion(2)),
        DecoderCase("an HTTP response instead of FastCGI", bytes("HTTP/1.1 200 OK\r\n\r\n"), [], error: .unsupportedVersion(0x48)),
        DecoderCase("garbage after good STDOUT", stdout("ok") + [0xff, 6, 0, 1, 0, 0, 0, 0], [out("ok")], error: .unsupportedVersion(0xff)),
        DecoderCase("unknown record type 0", rec(0), [], error: .unknownRecordType(0)),
        DecoderCase("unknown record type 12", rec(12), [], error: .unknownRecordType(12)),
        DecoderCase("unknown record type 255", rec(255, id: 0), [], error: .unknownRecordType(255)),
        DecoderCase("BEGIN_REQUEST from the responder", rec(1, [0, 1, 0, 0, 0, 0, 0, 0]), [], error: .recordTypeFromWebServer(.beginRequest)),
        DecoderCase("ABORT_REQUEST from the responder", rec(2), [], error: .recordTypeFromWebServer(.abortRequest)),
        DecoderCase("PARAMS from the responder", rec(4), [], error: .recordTypeFromWebServer(.params)),
        DecoderCase("STDIN from the responder", rec(5), [], error: .recordTypeFromWebServer(.stdin)),
        DecoderCase("DATA from the responder", rec(8), [], error: .recordTypeFromWebServer(.data)),
        DecoderCase("GET_VALUES from the responder", rec(9, id: 0), [], error: .recordTypeFromWebServer(.getValues)),
        DecoderCase("STDOUT for another request", stdout("a", id: 2), [], error: .unexpectedRequestID(type: .stdout, received: 2, expected: 1)),
        DecoderCase("STDERR for request 0", stderr("a", id: 0), [], error: .unexpectedRequestID(type: .stderr, received: 0, expected: 1)),
        DecoderCase("END_REQUEST for another request", stdout("a") + endRequest(id: 256), [out("a")],
                    error: .unexpectedRequestID(type: .endRequest, received: 256, expected: 1)),
        DecoderCase("GET_VALUES_RESULT with a request id", rec(10, id: 1, []), [],
                    error: .unexpectedRequestID(type: .getValuesResult, received: 1, expected: 0)),
        DecoderCase("UNKNOWN_TYPE with a request id", rec(11, id: 1, [8, 0, 0, 0, 0, 0, 0, 0]), [],
                    error: .unexpectedRequestID(type: .unknownType, received: 1, expected: 0)),
        DecoderCase("padding of 8 (one over the limit)", stdout("a", padding: 8), [], error: .paddingTooLong(8, limit: 7)),
        DecoderCase("padding of 255", rec(3, [0, 0, 0, 0, 0, 0, 0, 0], padding: 255), [], error: .paddingTooLong(255, limit: 7)),
        DecoderCase("END_REQUEST with no body", rec(3, []), [], error: .badEndRequestLength(0)),
        DecoderCase("END_REQUEST with 7 bytes", rec(3, [0, 0, 0, 0, 0, 0, 0]), [], error: .badEndRequestLength(7)),
        DecoderCase("END_REQUEST with 9 bytes", rec(3, [0, 0, 0, 0, 0, 0, 0, 0, 0]), [], error: .badEndRequestLength(9)),
        DecoderCase("END_REQUEST with 65535 bytes (caught at the header)", Array(rec(3, [UInt8](repeating: 0, count: 65535)).prefix(8)), [],
                    error: .badEndRequestLength(65535)),
        DecoderCase("UNKNOWN_TYPE with 0 bytes", rec(11, id: 0, []), [], error: .badUnknownTypeLength(0)),
        DecoderCase("UNKNOWN_TYPE with 16 bytes", rec(11, id: 0, [UInt8](repeating: 0, count: 16)), [], error: .badUnknownTypeLength(16)),
        DecoderCase("END_REQUEST with protocolStatus 4", endRequest(status: 4), [], error: .unknownProtocolStatus(4)),
        DecoderCase("END_REQUEST with protocolStatus 255", endRequest(status: 255), [], error: .unknownProtocolStatus(255)),
        DecoderCase("GET_VALUES_RESULT with a pair cut short", rec(10, id: 0, [14, 1] + bytes("FCGI_MAX")), [], error: .malformedNameValuePairs),
        DecoderCase("a byte after END_REQUEST", stdout("a") + endRequest() + [1], [out("a"), complete], error: .contentAfterEndRequest),
        DecoderCase("STDOUT after END_REQUEST", endRequest() + stdout("late"), [complete], error: .contentAfterEndRequest),
        DecoderCase("two END_REQUESTs", endRequest() + endRequest(), [complete], error: .contentAfterEndRequest),
    ]

    @Test(arguments: valid)
    func validInput(_ c: DecoderCase) {
        let id: UInt16 = c.name == "request id 0x1234" ? 0x1234 : 1
        let expected = c.name == "request id 0x1234" ? [Self.out("a"), Self.complete] : c.items
        let got = decodeEveryWay(c.input, requestID: id)
        #expect(got.items == expected)
        #expect(got.error == nil)
        #expect(got.leftover == c.leftover)
    }

    @Test(arguments: errors)
    func invalidInput(_ c: DecoderCase) {
        let got = decodeEveryWay(c.input)
        #expect(got.items == c.items)
        #expect(got.error == c.error)
        #expect(got.error.map { !$0.reason.isEmpty } ?? false)
    }

    @Test func paddingLimitIsAKnob() {
        // Spec §3.3 allows 255; a decoder built with that bound takes it, and 0 allows none.
        let padded = rec(6, bytes("a"), padding: 255) + endRequest()
        #expect(decodeEveryWay(padded, maxPadding: 255).items == [Self.out("a"), Self.complete])
        #expect(decodeEveryWay(stdout("a", padding: 1), maxPadding: 0).error == .paddingTooLong(1, limit: 0))
        #expect(decodeEveryWay(stdout("abcdefgh") + endRequest(), maxPadding: 0).items == [Self.out("abcdefgh"), Self.complete])
    }

    @Test func stdoutRangesPointIntoTheInput() throws {
        // No copy: the range indexes the very buffer passed in.
        let input = stdout("hello") + endRequest()
        var d = FastCGIResponseDecoder(requestID: 1)
        let r = try input.withUnsafeBytes { try d.decode($0) }
        #expect(r == FastCGIDecodeResult(event: .stdout(8..<13), consumed: 13))
        let rest = Array(input[13...])
        let r2 = try rest.withUnsafeBytes { try d.decode($0) }
        #expect(r2 == FastCGIDecodeResult(event: .endRequest(appStatus: 0, protocolStatus: .requestComplete), consumed: 3 + 16))
        #expect(d.isEnded)
        #expect(try [UInt8]().withUnsafeBytes { try d.decode($0) } == FastCGIDecodeResult(event: .needMoreBytes, consumed: 0))
    }

    @Test func randomBytesNeverCrashOrOverrun() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<300 {
            // Mostly-valid headers with random fields, so the checks after the version are reached.
            var data: [UInt8] = []
            for _ in 0..<rng.int(1...6) {
                if rng.chance(0.7) {
                    let type = UInt8(rng.pick([3, 6, 7, 10, 11, 6, 7, rng.int(0...255)]))
                    let n = rng.chance(0.2) ? 8 : rng.int(0...40)
                    data += rec(type, id: UInt16(rng.pick([0, 1, 1, 1, 2])), (0..<n).map { _ in UInt8(rng.int(0...255)) },
                                padding: rng.chance(0.9) ? nil : rng.int(0...12), version: rng.chance(0.95) ? 1 : 0)
                } else {
                    data += (0..<rng.int(0...20)).map { _ in UInt8(rng.int(0...255)) }
                }
            }
            let whole = decodeAll(data, slices: [data.count])
            let cut = rng.int(0...data.count)
            #expect(decodeAll(data, slices: [cut]) == whole, "seed \(seed)")
            #expect(decodeAll(data, slices: Array(repeating: 1, count: data.count)) == whole, "seed \(seed)")
        }
    }
}
