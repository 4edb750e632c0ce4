// Feeds libFuzzer's input to the response parser in three ways (whole, split at a point taken from
// the input, one byte at a time) and checks the invariants: no crash, `consumed` never past the
// input, body ranges inside the input and consumed, progress on every call, the bytes after a 101
// relayed untouched, and all three ways agree on the outcome (EOF included).
//
// Input: the first byte chooses the scenario, the rest is what the upstream sends.
//   bit 0: the first request is HEAD (else GET)      bit 2: the upstream closes at the end (inputEnded)
//   bit 1: the requests carry Upgrade (101 allowed)  bit 3: three pipelined requests (else one)
//   bits 4-7: where the two-way split falls, in sixteenths of the input
// So the seed files start with a readable letter: '@' plain GET, 'A' HEAD, 'B' upgrade, 'D' EOF, 'H' three.
import FlaksHTTP

struct Outcome: Equatable {
    var heads: [String] = []
    var body: [UInt8] = []
    var trailers: [String] = []
    var ends = 0
    var tunnel: [UInt8]?
    var eof: String?
    var error: ResponseParseError?
}

/// Runs the caller protocol the proxy uses: startResponse per request sent, keep unconsumed bytes,
/// append the next slice; after a 101 the rest is tunnel bytes; at the end, optionally, inputEnded.
func run(_ data: [UInt8], flags: UInt8, slices: [Int]) -> Outcome {
    var parser = ResponseParser(limits: ResponseParseLimits(maxHead: 1024, maxHeaderCount: 20, maxBody: 4096))
    var requests = flags & 8 != 0 ? 3 : 1
    var first = true
    func start() {
        guard requests > 0 else { return }
        requests -= 1
        parser.startResponse(to: first && flags & 1 != 0 ? .HEAD : .GET, upgradeRequested: flags & 2 != 0)
        first = false
    }
    start()
    var out = Outcome()
    var buffer: [UInt8] = []
    var fed = 0
    var sliceIndex = 0
    var steps = 0
    while steps < 100_000 {
        steps += 1
        let result: ResponseParseResult
        do {
            result = try buffer.withUnsafeBytes { try parser.parse($0) }
        } catch let e as ResponseParseError {
            out.error = e
            return out
        } catch {
            fatalError("parse threw a non-ResponseParseError: \(error)")
        }
        precondition(result.consumed >= 0 && result.consumed <= buffer.count, "consumed out of range")
        switch result.event {
        case .interim(let h), .head(let h), .switchingProtocols(let h):
            precondition(result.consumed > 0, "a head consumed nothing")
            out.heads.append("\(h.version) \(h.status.code) \(h.reason) \(h.headers.count) \(h.framing) \(h.keepAlive)")
            if case .switchingProtocols = result.event {
                precondition(h.status.code == 101 && flags & 2 != 0, "101 reported without an upgrade request")
                out.tunnel = Array(buffer[result.consumed...]) + data[fed...]
                return out
            }
        case .body(let r):
            precondition(r.lowerBound >= 0 && r.upperBound <= buffer.count && !r.isEmpty, "body range outside the input")
            precondition(r.upperBound <= result.consumed, "body range not consumed")
            out.body.append(contentsOf: buffer[r])
        case .trailers(let t):
            precondition(!t.isEmpty, "empty trailers event")
            out.trailers.append(contentsOf: t.map { "\($0.name): \($0.value)" })
        case .end:
            out.ends += 1
            precondition(parser.isIdle, "not idle after end")
            start()
        case .needMoreBytes:
            if fed == data.count {
                buffer.removeFirst(result.consumed)
                if flags & 4 != 0 {
                    do {
                        out.eof = String(describing: try parser.inputEnded())
                    } catch let e as ResponseParseError {
                        out.error = e
                    } catch {
                        fatalError("inputEnded threw a non-ResponseParseError: \(error)")
                    }
                }
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
    let all = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let flags = all.first else { return 0 }
    let data = Array(all.dropFirst())
    let whole = run(data, flags: flags, slices: [data.count])
    let split = Int(flags >> 4) * data.count / 16
    let two = run(data, flags: flags, slices: [split, data.count])
    let bytewise = run(data, flags: flags, slices: Array(repeating: 1, count: data.count))
    precondition(whole == two, "whole and split disagree")
    precondition(whole == bytewise, "whole and bytewise disagree")
    if let tunnel = whole.tunnel {
        precondition(data.suffix(tunnel.count).elementsEqual(tunnel), "tunnel bytes are not the input's tail")
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

@_cdecl("FuzzResponseParser_main")
public func fuzzResponseParserMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}
