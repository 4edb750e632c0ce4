// Feeds libFuzzer's input, as bytes from a FastCGI responder, to `FastCGIResponseDecoder` and to
// `FastCGIExchange` in three ways (whole, split at a point taken from the input, one byte at a
// time) and checks the invariants: no crash, `consumed` never past the input, STDOUT/STDERR
// ranges non-empty and inside what was consumed, the decoder making progress, and all three
// ways agreeing. The input is also read as name-value pairs, which must survive a round trip
// through the encoder.
import FlaksFastCGI

struct DecoderOutcome: Equatable {
    var items: [String] = []
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var error: FastCGIError?
}

/// The caller protocol the server uses: keep unconsumed bytes, append the next slice.
func decode(_ data: [UInt8], slices: [Int]) -> DecoderOutcome {
    var decoder = FastCGIResponseDecoder(requestID: 1)
    var out = DecoderOutcome()
    var buffer: [UInt8] = []
    var fed = 0, sliceIndex = 0
    for _ in 0..<(4 * data.count + 16) {
        let result: FastCGIDecodeResult
        do {
            result = try buffer.withUnsafeBytes { try decoder.decode($0) }
        } catch let e as FastCGIError {
            out.error = e
            return out
        } catch {
            fatalError("decode threw a non-FastCGIError: \(error)")
        }
        precondition(result.consumed >= 0 && result.consumed <= buffer.count, "consumed out of range")
        switch result.event {
        case .stdout(let r), .stderr(let r):
            precondition(!r.isEmpty && r.lowerBound >= 0 && r.upperBound <= result.consumed, "stream range outside the consumed input")
            if case .stdout = result.event { out.stdout += buffer[r] } else { out.stderr += buffer[r] }
        case .endRequest(let a, let s): out.items.append("end \(a) \(s)")
        case .getValuesResult(let pairs): out.items.append("values \(pairs.count)")
        case .unknownType(let t): out.items.append("unknown \(t)")
        case .needMoreBytes:
            buffer.removeFirst(result.consumed)
            if fed == data.count { return out }
            let n = sliceIndex < slices.count ? slices[sliceIndex] : data.count - fed
            sliceIndex += 1
            let take = min(max(n, 1), data.count - fed)
            buffer += data[fed..<(fed + take)]
            fed += take
            continue
        }
        buffer.removeFirst(result.consumed)
    }
    preconditionFailure("the decoder made no progress")
}

struct ExchangeOutcome: Equatable {
    var stdout: [UInt8] = []
    var stderr: [FastCGIStderrLine] = []
    var completion: String?
    var keep: Bool?
    var failure: FastCGIError?
}

/// The executor's loop around `FastCGIExchange.bytesReceived`, then EOF.
func exchange(_ data: [UInt8], slices: [Int]) -> ExchangeOutcome {
    var ex = FastCGIExchange(maxStderrLine: 64)
    _ = try? ex.start(params: [], body: [])
    var out = ExchangeOutcome()
    var buffer: [UInt8] = []
    var fed = 0, sliceIndex = 0
    for _ in 0..<(4 * data.count + 16) {
        let step = buffer.withUnsafeBytes { ex.bytesReceived($0) }
        precondition(step.consumed >= 0 && step.consumed <= buffer.count, "consumed out of range")
        switch step.action {
        case .stdout(let r):
            precondition(!r.isEmpty && r.upperBound <= step.consumed, "stdout range outside the consumed input")
            out.stdout += buffer[r]
        case .stderr(let lines):
            precondition(!lines.isEmpty && lines.allSatisfy { !$0.text.isEmpty && $0.text.utf8.count <= 64 * 3 }, "bad stderr lines")
            out.stderr += lines
        case .complete(let a, let s, let keep):
            precondition(out.completion == nil, "two completions")
            out.completion = "\(a) \(s)"
            out.keep = keep
        case .failed(let e):
            out.failure = e
            return out
        case .needMoreBytes:
            buffer.removeFirst(step.consumed)
            if fed == data.count {
                if let e = ex.responderClosed() { out.failure = e }
                return out
            }
            let n = sliceIndex < slices.count ? slices[sliceIndex] : data.count - fed
            sliceIndex += 1
            let take = min(max(n, 1), data.count - fed)
            buffer += data[fed..<(fed + take)]
            fed += take
            continue
        }
        buffer.removeFirst(step.consumed)
    }
    preconditionFailure("the exchange made no progress")
}

/// Whole, split and bytewise runs of the exchange agree, except that `keep` can only be known
/// false in a run that saw the byte after END_REQUEST in the same buffer.
func sameExchange(_ a: ExchangeOutcome, _ b: ExchangeOutcome) -> Bool {
    var a = a, b = b
    if a.failure == .contentAfterEndRequest || b.failure == .contentAfterEndRequest { a.keep = nil; b.keep = nil }
    return a == b
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Array(UnsafeRawBufferPointer(start: start, count: count))
    let split = data.isEmpty ? 0 : Int(data[data.count - 1]) % data.count
    let bytewise = Array(repeating: 1, count: data.count)

    let whole = decode(data, slices: [data.count])
    precondition(decode(data, slices: [split]) == whole, "decoder: whole and split disagree")
    precondition(decode(data, slices: bytewise) == whole, "decoder: whole and bytewise disagree")

    let ex = exchange(data, slices: [data.count])
    precondition(sameExchange(exchange(data, slices: [split]), ex), "exchange: whole and split disagree")
    precondition(sameExchange(exchange(data, slices: bytewise), ex), "exchange: whole and bytewise disagree")
    // The exchange stops at UNKNOWN_TYPE, where the decoder goes on; otherwise they agree.
    if case .typeNotUnderstood? = ex.failure {
        precondition(whole.stdout.starts(with: ex.stdout), "exchange STDOUT is not a prefix of the decoder's")
    } else {
        precondition(ex.stdout == whole.stdout, "exchange and decoder disagree on STDOUT")
    }

    // Name-value pairs: what decodes re-encodes and decodes to the same pairs.
    if let pairs = data.withUnsafeBytes({ try? FastCGIParam.decodePairs($0) }) {
        var encoded: [UInt8] = []
        for p in pairs { p.append(to: &encoded) }
        precondition(encoded.count <= data.count, "re-encoding grew")
        precondition(encoded.withUnsafeBytes({ try? FastCGIParam.decodePairs($0) }) == pairs, "name-value round trip")
    }
    return 0
}

/// libFuzzer's driver entry, declared here because SwiftPM names an executable's entry point
/// `<module>_main`: we provide that and hand control to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt

@_cdecl("FuzzFastCGI_main")
public func fuzzFastCGIMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}
