import Testing
@testable import FlaksFastCGI
import FlaksTestSupport

/// Records a web server sends, checked byte for byte against the layouts of spec §3.3, §3.4, §5.
@Suite struct EncoderTests {
    func encode(_ body: (inout [UInt8]) throws -> Void) rethrows -> [UInt8] {
        var out: [UInt8] = []
        try body(&out)
        return out
    }

    @Test func beginRequestWithKeepConn() {
        // version 1, type 1, id 0x0001, contentLength 8, padding 0, reserved; role 0x0001, flags 1, 5 reserved.
        #expect(encode { FastCGIEncoder.appendBeginRequest(requestID: 1, keepConnection: true, to: &$0) }
                == [1, 1, 0, 1, 0, 8, 0, 0, /**/ 0, 1, 1, 0, 0, 0, 0, 0])
    }

    @Test func beginRequestWithoutKeepConnAndBigRequestID() {
        #expect(encode { FastCGIEncoder.appendBeginRequest(requestID: 0x1234, keepConnection: false, to: &$0) }
                == [1, 1, 0x12, 0x34, 0, 8, 0, 0, /**/ 0, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func emptyStreamsAndAbort() {
        #expect(encode { try? FastCGIEncoder.appendParams([], requestID: 1, to: &$0) } == [1, 4, 0, 1, 0, 0, 0, 0])
        #expect(encode { FastCGIEncoder.appendStdinEnd(requestID: 1, to: &$0) } == [1, 5, 0, 1, 0, 0, 0, 0])
        #expect(encode { FastCGIEncoder.appendAbortRequest(requestID: 7, to: &$0) } == [1, 2, 0, 7, 0, 0, 0, 0])
        // An empty STDIN chunk must not end the stream by accident.
        #expect(encode { FastCGIEncoder.appendStdin(UnsafeRawBufferPointer(start: nil, count: 0), requestID: 1, to: &$0) } == [])
    }

    @Test func oneParamsRecordWithPadding() throws {
        // "REQUEST_METHOD" (14) = "GET" (3): 1 + 1 + 14 + 3 = 19 content bytes, 5 padding bytes.
        let out = try encode { try FastCGIEncoder.appendParams([FastCGIParam("REQUEST_METHOD", "GET")], requestID: 1, to: &$0) }
        let expected: [UInt8] = [1, 4, 0, 1, 0, 19, 5, 0, 14, 3] + bytes("REQUEST_METHOD") + bytes("GET")
            + [0, 0, 0, 0, 0] + [1, 4, 0, 1, 0, 0, 0, 0]
        #expect(out == expected)
    }

    @Test func nameValueLengthForms() {
        // Spec §3.4: lengths 0...127 take one byte; 128 and more take four, high bit set.
        func pair(_ nameLength: Int, _ valueLength: Int) -> [UInt8] {
            var out: [UInt8] = []
            FastCGIParam(name: [UInt8](repeating: 0x4E, count: nameLength), value: [UInt8](repeating: 0x56, count: valueLength)).append(to: &out)
            return out
        }
        let p127 = pair(1, 127)
        #expect(Array(p127.prefix(2)) == [1, 127])
        #expect(p127.count == 2 + 1 + 127)
        let p128 = pair(1, 128)
        #expect(Array(p128.prefix(5)) == [1, 0x80, 0, 0, 128])
        #expect(p128.count == 5 + 1 + 128)
        let n128 = pair(128, 0)
        #expect(Array(n128.prefix(5)) == [0x80, 0, 0, 128, 0])
        let big = pair(0, 0x01_02_03)
        #expect(Array(big.prefix(5)) == [0, 0x80, 0x01, 0x02, 0x03])
        #expect(FastCGIParam(name: [1], value: [UInt8](repeating: 0, count: 127)).encodedLength == 130)
        #expect(FastCGIParam(name: [1], value: [UInt8](repeating: 0, count: 128)).encodedLength == 134)
        // And back.
        for p in [p127, p128, n128, big] {
            let decoded = p.withUnsafeBytes { try? FastCGIParam.decodePairs($0) }
            #expect(decoded?.count == 1)
            var again: [UInt8] = []
            decoded?.first?.append(to: &again)
            #expect(again == p)
        }
    }

    @Test func nameValueDecodingIsStrict() {
        func decode(_ b: [UInt8]) -> Result<[FastCGIParam], FastCGIError> {
            b.withUnsafeBytes { p in Result { () throws(FastCGIError) in try FastCGIParam.decodePairs(p) } }
        }
        #expect(decode([]) == .success([]))
        #expect(decode([1, 1, 0x41, 0x42]) == .success([FastCGIParam("A", "B")]))
        // The 4-byte form for a short length is accepted.
        #expect(decode([0x80, 0, 0, 1, 0, 0x41]) == .success([FastCGIParam("A", "")]))
        #expect(decode([1]) == .failure(.malformedNameValuePairs), "value length missing")
        #expect(decode([1, 2, 0x41, 0x42]) == .failure(.malformedNameValuePairs), "value cut short")
        #expect(decode([0x80, 0, 0]) == .failure(.malformedNameValuePairs), "4-byte length cut short")
        #expect(decode([0xff, 0xff, 0xff, 0xff, 0]) == .failure(.malformedNameValuePairs), "2 GiB name")
        #expect(decode([1, 0x81, 0, 0, 0, 0x41]) == .failure(.malformedNameValuePairs), "value length over the rest")
    }

    /// A pair of exactly `length` encoded bytes: a short name and a value filling the rest.
    func pair(encodedLength length: Int, name: String = "N") -> FastCGIParam {
        let short = length - 2 - name.utf8.count   // with a 1-byte value length
        let valueLength = short < 128 ? short : length - 5 - name.utf8.count
        let p = FastCGIParam(name: bytes(name), value: [UInt8](repeating: 0x76, count: valueLength))
        #expect(p.encodedLength == length)
        return p
    }

    @Test func paramsRecordEdge() throws {
        // 65528 content bytes fit one PARAMS record (php-fpm's limit on content + padding is 65535).
        let one = try encode { try FastCGIEncoder.appendParams([pair(encodedLength: 65528)], requestID: 1, to: &$0) }
        #expect(Array(one.prefix(8)) == [1, 4, 0, 1, 0xff, 0xf8, 0, 0])
        #expect(one.count == 8 + 65528 + 8)
        let sent = try SentRequest.read([1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0] + one)
        #expect(sent.paramsRecords.count == 1)
        // One byte more in a single pair cannot be sent (a pair is never split across records).
        var out: [UInt8] = [9]
        #expect(throws: FastCGIEncodingError.paramTooLong(name: "BIG", encodedLength: 65529)) {
            try FastCGIEncoder.appendParams([FastCGIParam("A", "B"), pair(encodedLength: 65529, name: "BIG")], requestID: 1, to: &out)
        }
        #expect(out == [9], "nothing appended on failure")
        // Two pairs that together exceed the record go into two records, each pair whole.
        let pairs = [pair(encodedLength: 65520, name: "A"), pair(encodedLength: 9, name: "B")]
        let two = try encode { try FastCGIEncoder.appendParams(pairs, requestID: 1, to: &$0) }
        let sentTwo = try SentRequest.read([1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0] + two)
        #expect(sentTwo.paramsRecords.map(\.count) == [65520, 9])
        #expect(try sentTwo.params == pairs)
        // And two that together make exactly 65528 share one.
        let fit = [pair(encodedLength: 65519, name: "A"), pair(encodedLength: 9, name: "B")]
        let sentFit = try SentRequest.read([1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
                                           + encode { try FastCGIEncoder.appendParams(fit, requestID: 1, to: &$0) })
        #expect(sentFit.paramsRecords.map(\.count) == [65528])
    }

    @Test func stdinRecordEdge() throws {
        func stdin(_ n: Int) -> [UInt8] {
            let body = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            return body.withUnsafeBytes { b in encode { FastCGIEncoder.appendStdin(b, requestID: 1, to: &$0) } }
        }
        // 65535 bytes: one record, 1 padding byte.
        let one = stdin(65535)
        #expect(Array(one.prefix(8)) == [1, 5, 0, 1, 0xff, 0xff, 1, 0])
        #expect(one.count == 8 + 65535 + 1)
        // 65536 bytes: 65535 + 1, the second padded with 7.
        let two = stdin(65536)
        #expect(two.count == (8 + 65535 + 1) + (8 + 1 + 7))
        #expect(Array(two[(8 + 65536)..<(8 + 65536 + 8)]) == [1, 5, 0, 1, 0, 1, 7, 0])
        // Both read back to the same bytes.
        for (n, data) in [(65535, one), (65536, two), (1, stdin(1)), (200_000, stdin(200_000))] {
            let sent = try SentRequest.read([1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 4, 0, 1, 0, 0, 0, 0] + data)
            #expect(sent.stdin == (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            #expect(sent.stdinRecords.allSatisfy { $0.count <= 65535 })
        }
    }

    @Test func requestHeadIsOneContiguousRequest() throws {
        let params = FastCGIParam.list(["SCRIPT_FILENAME": "/srv/a.php", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "5"])
        let head = try FastCGIEncoder.requestHead(requestID: 1, params: params, keepConnection: true, body: bytes("hello"))
        let sent = try SentRequest.read(head)
        #expect(sent.role == 1 && sent.flags == 1 && sent.requestID == 1)
        #expect(try sent.params.map { String(decoding: $0.name, as: UTF8.self) } == ["CONTENT_LENGTH", "REQUEST_METHOD", "SCRIPT_FILENAME"])
        #expect(sent.paramsEnded && sent.stdinEnded && sent.stdin == bytes("hello"))
        // Without a body: the head stops after the PARAMS stream; the body is streamed later.
        let streamed = try FastCGIEncoder.requestHead(requestID: 1, params: params, keepConnection: false, body: nil)
        let s2 = try SentRequest.read(streamed)
        #expect(s2.flags == 0 && s2.paramsEnded && !s2.stdinEnded && s2.stdinRecords.isEmpty)
        #expect(head[16..<streamed.count] == streamed[16...], "the same PARAMS stream after BEGIN_REQUEST")
        // An empty body still ends STDIN.
        let empty = try SentRequest.read(FastCGIEncoder.requestHead(requestID: 1, params: [], keepConnection: true, body: []))
        #expect(empty.stdinEnded && empty.stdinRecords.isEmpty)
    }

    @Test func paramListBuilders() {
        #expect(FastCGIParam.list([FastCGIPair("B", "1"), FastCGIPair("A", "2")]) == [FastCGIParam("B", "1"), FastCGIParam("A", "2")])
        #expect(FastCGIParam.list(["B": "1", "A": "2"]) == [FastCGIParam("A", "2"), FastCGIParam("B", "1")])
    }

    @Test func pairsEncodeLikeParamLists() throws {
        // Edges: 127/128-byte names and values (length forms), UTF-8, "=" in values, a skipped pair
        // (empty name), pairs filling records to 65528 and spilling into the next one.
        let max = FastCGI.maxParamsContentLength
        let edges = [FastCGIPair("A", "1"), FastCGIPair(String(repeating: "N", count: 127), "v"),
                     FastCGIPair(String(repeating: "M", count: 128), "v"),
                     FastCGIPair("V127", String(repeating: "a", count: 127)), FastCGIPair("V128", String(repeating: "b", count: 128)),
                     FastCGIPair("UTF", "caf\u{E9} \u{1F600}"), FastCGIPair("Q", "a=b"), FastCGIPair("EMPTY", ""), FastCGIPair("", "x"),
                     FastCGIPair("BIG1", String(repeating: "x", count: 40_000)), FastCGIPair("BIG2", String(repeating: "y", count: 40_000)),
                     FastCGIPair("EXACT", String(repeating: "z", count: max - 10))]   // exactly 65528 encoded: a record of its own
        let seed = UInt64.random(in: 0...UInt64.max)
        var cases = [edges, [], [FastCGIPair("ONLY", "one")]]
        var rng = SplitMix64(seed: seed)
        for _ in 0..<100 {
            cases.append((0..<rng.int(0...30)).map { _ in
                let name = String((0..<rng.int(0...12)).map { _ in Character(UnicodeScalar(UInt8(rng.int(65...90)))) })
                let value = String((0..<rng.int(0...(rng.chance(0.1) ? 3000 : 40))).map { _ in
                    rng.chance(0.05) ? "\u{E9}" : Character(UnicodeScalar(UInt8(rng.int(32...126))))
                })
                return FastCGIPair(name, value)
            })
        }
        for pairs in cases {
            // The reference: byte arrays per pair, empty names left out.
            var viaParams: [UInt8] = []
            try FastCGIEncoder.appendParams(FastCGIParam.list(pairs.filter { !$0.name.isEmpty }), requestID: 3, to: &viaParams)
            var viaPairs: [UInt8] = [7]
            try FastCGIEncoder.appendParams(pairs: pairs, requestID: 3, to: &viaPairs)
            #expect(viaPairs == [7] + viaParams, "seed \(seed)")
            let head = try FastCGIEncoder.requestHead(requestID: 1, pairs: pairs, keepConnection: true, body: [1, 2])
            #expect(head == (try FastCGIEncoder.requestHead(requestID: 1, params: FastCGIParam.list(pairs.filter { !$0.name.isEmpty }),
                                                           keepConnection: true, body: [1, 2])))
        }
        // One byte over a record's content: refused, and what was there is left as it was.
        var kept: [UInt8] = [9, 9]
        let tooLong = [FastCGIPair("OK", "1"), FastCGIPair("EXACT", String(repeating: "z", count: max - 9))]
        #expect(throws: FastCGIEncodingError.self) { try FastCGIEncoder.appendParams(pairs: tooLong, requestID: 1, to: &kept) }
        #expect(kept == [9, 9], "a refused pair leaves what was there")
        var ex = FastCGIExchange()
        #expect(try ex.start(pairs: [FastCGIPair("A", "1")], body: [])
                == (try FastCGIEncoder.requestHead(requestID: 1, params: [FastCGIParam("A", "1")], keepConnection: true, body: [])))
    }

    @Test("the params writer grows its buffer at the edge: a pair that fits, fills, or is one byte over the room")
    func paramsWriterGrowsAtTheEdge() throws {
        // Capacity 64: a record header (8), the pair, and the writer's slack for padding and the next
        // header (16) must fit: room for a 40-byte pair. "NAME" and a value of 33, 34, 35 bytes encode
        // to 39, 40, 41 (1 + 1 + 4 + value): one under, at and one over; then far over.
        for valueLength in [33, 34, 35, 200, 35_000] {
            let pairs = [FastCGIPair("NAME", String(repeating: "v", count: valueLength)), FastCGIPair("B", "2")]
            var writer = FastCGIParamsWriter(requestID: 3, capacity: 64)
            for p in pairs { writer.add(p.name, p.value) }
            #expect(writer.pairs == pairs, "the open record reads back (\(valueLength))")
            var reference: [UInt8] = []
            try FastCGIEncoder.appendParams(FastCGIParam.list(pairs), requestID: 3, to: &reference)
            var records = try writer.records()
            FastCGIEncoder.appendEmptyRecord(.params, requestID: 3, to: &records)
            #expect(records == reference, "\(valueLength)")
            #expect(writer.pairs == pairs, "closed records read back (\(valueLength))")
        }
    }

    @Test func roundTripRandomRequests() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let params = (0..<rng.int(0...40)).map { _ in
                FastCGIParam(name: (0..<rng.int(1...(rng.chance(0.1) ? 300 : 20))).map { _ in UInt8(rng.int(0...255)) },
                             value: (0..<rng.int(0...(rng.chance(0.1) ? 3000 : 50))).map { _ in UInt8(rng.int(0...255)) })
            }
            let body: [UInt8]? = rng.chance(0.3) ? nil : (0..<rng.int(0...(rng.chance(0.1) ? 140_000 : 100))).map { _ in UInt8(rng.int(0...255)) }
            let keep = rng.chance(0.5)
            var wire = try FastCGIEncoder.requestHead(requestID: 1, params: params, keepConnection: keep, body: body)
            var streamed: [UInt8] = []
            if body == nil {
                for _ in 0..<rng.int(0...3) {
                    let chunk = (0..<rng.int(0...70_000)).map { _ in UInt8(rng.int(0...255)) }
                    streamed += chunk
                    chunk.withUnsafeBytes { FastCGIEncoder.appendStdin($0, requestID: 1, to: &wire) }
                }
                FastCGIEncoder.appendStdinEnd(requestID: 1, to: &wire)
            }
            let sent = try SentRequest.read(wire)
            #expect(try sent.params == params, "seed \(seed)")
            #expect(sent.stdin == (body ?? streamed), "seed \(seed)")
            #expect(sent.flags == (keep ? 1 : 0) && sent.stdinEnded, "seed \(seed)")
        }
    }
}
