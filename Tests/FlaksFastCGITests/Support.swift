import Testing
@testable import FlaksFastCGI

/// Builds a record by hand, byte by byte from spec §3.3, independent of `FastCGIEncoder`, so
/// tests of the encoder and decoder do not check the code against itself.
func rec(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8] = [], padding: Int? = nil, version: UInt8 = 1) -> [UInt8] {
    let pad = padding ?? ((8 - content.count % 8) % 8)
    return [version, type, UInt8(id >> 8), UInt8(id & 0xff), UInt8(content.count >> 8), UInt8(content.count & 0xff),
            UInt8(pad), 0] + content + [UInt8](repeating: 0xEE, count: pad)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// STDOUT (6), STDERR (7), END_REQUEST (3) records as a responder sends them.
func stdout(_ s: String, id: UInt16 = 1, padding: Int? = nil) -> [UInt8] { rec(6, id: id, bytes(s), padding: padding) }
func stderr(_ s: String, id: UInt16 = 1) -> [UInt8] { rec(7, id: id, bytes(s)) }
func endRequest(app: UInt32 = 0, status: UInt8 = 0, id: UInt16 = 1) -> [UInt8] {
    rec(3, id: id, [UInt8(app >> 24), UInt8((app >> 16) & 0xff), UInt8((app >> 8) & 0xff), UInt8(app & 0xff), status, 0, 0, 0])
}

/// What a decoder run produced: stream bytes merged per run of the same stream (so any split
/// of the input gives the same value), whole-record events, and the error that ended it.
struct DecodeOutcome: Equatable, CustomStringConvertible {
    enum Item: Equatable { case out([UInt8]), err([UInt8]), end(UInt32, FastCGI.ProtocolStatus), values([FastCGIParam]), unknown(UInt8) }
    var items: [Item] = []
    var error: FastCGIError?
    /// Bytes left in the buffer when the input ran out.
    var leftover = 0

    mutating func add(out b: [UInt8]) {
        if case .out(let prev)? = items.last { items[items.count - 1] = .out(prev + b) } else { items.append(.out(b)) }
    }
    mutating func add(err b: [UInt8]) {
        if case .err(let prev)? = items.last { items[items.count - 1] = .err(prev + b) } else { items.append(.err(b)) }
    }
    var description: String { "items: \(items), error: \(String(describing: error)), leftover: \(leftover)" }
}

/// Runs the decoder's calling protocol: keep the unconsumed bytes, append the next slice of
/// `slices` (the rest in one go when they run out), and check the invariants on every call.
func decodeAll(_ data: [UInt8], slices: [Int], requestID: UInt16 = 1, maxPadding: Int = 7,
               sourceLocation: SourceLocation = #_sourceLocation) -> DecodeOutcome {
    var decoder = FastCGIResponseDecoder(requestID: requestID, maxPadding: maxPadding)
    var out = DecodeOutcome()
    var buffer: [UInt8] = []
    var fed = 0, sliceIndex = 0
    for _ in 0..<(4 * data.count + 16) {
        let r: FastCGIDecodeResult
        do {
            r = try buffer.withUnsafeBytes { try decoder.decode($0) }
        } catch {
            guard let e = error as? FastCGIError else {
                Issue.record("decode threw \(error)", sourceLocation: sourceLocation)
                return out
            }
            out.error = e
            // A failed decoder stays failed.
            #expect(throws: e, sourceLocation: sourceLocation) { _ = try buffer.withUnsafeBytes { try decoder.decode($0) } }
            return out
        }
        #expect(r.consumed >= 0 && r.consumed <= buffer.count, "consumed out of range", sourceLocation: sourceLocation)
        switch r.event {
        case .stdout(let range), .stderr(let range):
            #expect(!range.isEmpty && range.lowerBound >= 0 && range.upperBound <= r.consumed, "bad range", sourceLocation: sourceLocation)
            if case .stdout = r.event { out.add(out: Array(buffer[range])) } else { out.add(err: Array(buffer[range])) }
        case .endRequest(let app, let status): out.items.append(.end(app, status))
        case .getValuesResult(let pairs): out.items.append(.values(pairs))
        case .unknownType(let t): out.items.append(.unknown(t))
        case .needMoreBytes:
            buffer.removeFirst(r.consumed)
            if fed == data.count {
                out.leftover = buffer.count
                return out
            }
            let n = sliceIndex < slices.count ? slices[sliceIndex] : data.count - fed
            sliceIndex += 1
            let take = min(max(n, 1), data.count - fed)
            buffer.append(contentsOf: data[fed..<(fed + take)])
            fed += take
            continue
        }
        buffer.removeFirst(r.consumed)
    }
    Issue.record("the decoder made no progress", sourceLocation: sourceLocation)
    return out
}

/// The three ways every decoder case is fed: whole, split in two at every byte, byte by byte.
/// Returns the whole-input outcome after checking that the other ways agree with it.
func decodeEveryWay(_ data: [UInt8], requestID: UInt16 = 1, maxPadding: Int = 7,
                    sourceLocation: SourceLocation = #_sourceLocation) -> DecodeOutcome {
    let whole = decodeAll(data, slices: [data.count], requestID: requestID, maxPadding: maxPadding, sourceLocation: sourceLocation)
    for cut in cutPoints(data.count) {
        let split = decodeAll(data, slices: [cut], requestID: requestID, maxPadding: maxPadding, sourceLocation: sourceLocation)
        #expect(split == whole, "split at \(cut)", sourceLocation: sourceLocation)
        if split != whole { break }
    }
    let bytewise = decodeAll(data, slices: Array(repeating: 1, count: data.count), requestID: requestID,
                             maxPadding: maxPadding, sourceLocation: sourceLocation)
    #expect(bytewise == whole, "byte by byte", sourceLocation: sourceLocation)
    return whole
}

/// A test-side reader of the records a web server sends (what php-fpm would see), strict on
/// framing: version 1, padding to the next multiple of 8, and for PARAMS content + padding at
/// most 65535 (php-fpm's check). Used to check the encoder by round trip.
struct SentRequest: Equatable {
    var requestID: UInt16?
    var role: UInt16?
    var flags: UInt8?
    var paramsRecords: [[UInt8]] = []
    var paramsEnded = false
    var stdinRecords: [[UInt8]] = []
    var stdinEnded = false
    var aborted = false

    var params: [FastCGIParam] {
        get throws {
            // php-fpm decodes each PARAMS record on its own: do the same.
            try paramsRecords.flatMap { r in try r.withUnsafeBytes { try FastCGIParam.decodePairs($0) } }
        }
    }
    var stdin: [UInt8] { stdinRecords.flatMap { $0 } }

    enum Failure: Error { case framing(String) }

    static func read(_ data: [UInt8]) throws -> SentRequest {
        var s = SentRequest()
        var i = 0
        while i < data.count {
            guard data.count - i >= 8 else { throw Failure.framing("short header at \(i)") }
            let version = data[i], type = data[i + 1]
            let id = UInt16(data[i + 2]) << 8 | UInt16(data[i + 3])
            let length = Int(data[i + 4]) << 8 | Int(data[i + 5]), padding = Int(data[i + 6])
            guard version == 1, data[i + 7] == 0 else { throw Failure.framing("version/reserved at \(i)") }
            guard padding == (8 - length % 8) % 8 else { throw Failure.framing("padding \(padding) for \(length)") }
            guard data.count - i >= 8 + length + padding else { throw Failure.framing("short record at \(i)") }
            guard data[(i + 8 + length)..<(i + 8 + length + padding)].allSatisfy({ $0 == 0 }) else { throw Failure.framing("padding not zero") }
            if let rid = s.requestID, rid != id { throw Failure.framing("request id changed") }
            s.requestID = id
            let content = Array(data[(i + 8)..<(i + 8 + length)])
            switch type {
            case 1:
                guard length == 8, s.role == nil else { throw Failure.framing("BEGIN_REQUEST") }
                s.role = UInt16(content[0]) << 8 | UInt16(content[1])
                s.flags = content[2]
                guard content[3...].allSatisfy({ $0 == 0 }) else { throw Failure.framing("BEGIN_REQUEST reserved") }
            case 2:
                guard length == 0 else { throw Failure.framing("ABORT_REQUEST") }
                s.aborted = true
            case 4:
                guard s.role != nil, !s.paramsEnded else { throw Failure.framing("PARAMS out of order") }
                guard length + padding <= 65535 else { throw Failure.framing("PARAMS record over php-fpm's limit") }
                if length == 0 { s.paramsEnded = true } else { s.paramsRecords.append(content) }
            case 5:
                guard s.paramsEnded, !s.stdinEnded else { throw Failure.framing("STDIN out of order") }
                if length == 0 { s.stdinEnded = true } else { s.stdinRecords.append(content) }
            default:
                throw Failure.framing("type \(type) from a web server")
            }
            i += 8 + length + padding
        }
        return s
    }
}

/// Where to split an input in two: at every byte for inputs up to 4 KiB; for longer ones (the
/// 64 KiB record cases) every byte of the first and last 2 KiB and every 61st byte between,
/// which keeps the quadratic re-feeding bounded.
func cutPoints(_ count: Int) -> [Int] {
    guard count > 4096 else { return Array(1..<max(count, 1)) }
    return Array(1..<2048) + Array(stride(from: 2048, to: count - 2048, by: 61)) + Array((count - 2048)..<count)
}
