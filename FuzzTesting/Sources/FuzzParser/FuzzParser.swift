// Feeds libFuzzer's input to the request parser in three ways (whole, split at a point taken
// from the input, one byte at a time) and checks the invariants: no crash, `consumed` never past
// the input, body ranges inside the input, and all three ways agree on the outcome.
import FlaksHTTP

struct Outcome: Equatable {
    var heads: [String] = []
    var body: [UInt8] = []
    var ends = 0
    var error: HTTPParseError?
}

/// Runs the caller protocol the server uses: keep unconsumed bytes, append the next slice.
func run(_ data: [UInt8], slices: [Int]) -> Outcome {
    var parser = RequestParser(limits: ParseLimits(maxBuffer: 1024, maxBody: 4096, maxHeaderCount: 20))
    var out = Outcome()
    var buffer: [UInt8] = []
    var fed = 0
    var sliceIndex = 0
    var steps = 0
    while steps < 100_000 {
        steps += 1
        let result: ParseResult
        do {
            result = try buffer.withUnsafeBytes { try parser.parse($0) }
        } catch let e as HTTPParseError {
            out.error = e
            return out
        } catch {
            fatalError("parse threw a non-HTTPParseError: \(error)")
        }
        precondition(result.consumed >= 0 && result.consumed <= buffer.count, "consumed out of range")
        switch result.event {
        case .head(let h):
            out.heads.append("\(h.method) \(h.target) \(h.version) \(h.headers.count) \(h.framing) \(h.keepAlive)")
        case .body(let r):
            precondition(r.lowerBound >= 0 && r.upperBound <= buffer.count && !r.isEmpty, "body range outside the input")
            precondition(r.upperBound <= result.consumed, "body range not consumed")
            out.body.append(contentsOf: buffer[r])
        case .end:
            out.ends += 1
        case .needMoreBytes:
            if fed == data.count {
                buffer.removeFirst(result.consumed)
                return out
            }
            let n = sliceIndex < slices.count ? slices[sliceIndex] : data.count - fed
            sliceIndex += 1
            let take = min(max(n, 1), data.count - fed)
            buffer.removeFirst(result.consumed)
            buffer.append(contentsOf: data[fed..<(fed + take)])
            fed += take
            continue
        }
        buffer.removeFirst(result.consumed)
    }
    preconditionFailure("the parser made no progress")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Array(UnsafeRawBufferPointer(start: start, count: count))
    let whole = run(data, slices: [data.count])
    let split = data.isEmpty ? 0 : Int(data[0]) % max(data.count, 1)
    let two = run(data, slices: [split, data.count])
    let bytewise = run(data, slices: Array(repeating: 1, count: data.count))
    precondition(whole == two, "whole and split disagree")
    precondition(whole == bytewise, "whole and bytewise disagree")
    checkQuickHead(data)
    return 0
}

/// Whatever `QuickHead.scan` accepts (the prepared-response path), the parser accepts as the same
/// plain GET: same target and Host, no body, kept alive, the same head length.
func checkQuickHead(_ data: [UInt8]) {
    let limits = ParseLimits(maxBuffer: 1024, maxBody: 4096, maxHeaderCount: 20)
    guard let q = data.withUnsafeBytes({ QuickHead.scan($0, limits: limits) }) else { return }
    var parser = RequestParser(limits: limits)
    guard let r = try? data.withUnsafeBytes({ try parser.parse($0) }), case .head(let h) = r.event else {
        preconditionFailure("QuickHead accepted a head the parser rejects")
    }
    precondition(h.method == .GET && h.version == .http1_1 && h.framing == .none && h.keepAlive && !h.expectContinue,
                 "QuickHead accepted a head the parser reads differently")
    precondition(Array(h.target.utf8) == Array(data[q.target]), "QuickHead target differs")
    precondition(h.headers.values("Host") == [String(decoding: data[q.host], as: UTF8.self)], "QuickHead host differs")
    precondition(r.consumed == q.length, "QuickHead length differs")
}

/// libFuzzer's driver entry, declared here because SwiftPM names an executable's entry point
/// `<module>_main`: we provide that and hand control to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt

@_cdecl("FuzzParser_main")
public func fuzzParserMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}
