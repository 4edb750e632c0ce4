import Foundation
import Testing
@testable import FlaksHTTP

/// Replays the fuzz seed corpus and every saved crasher through the parser, whole and byte by
/// byte, under the invariants the fuzz target checks.
@Suite("Fuzz corpus and fail cases replay")
struct FuzzReplayTests {
    static var files: [URL] {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let dirs = [here.appendingPathComponent("Corpus"),
                    here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzTesting/FailCases")]
        return dirs.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }.sorted { $0.path < $1.path }
    }

    struct Outcome: Equatable { var events: [String] = []; var body: [UInt8] = []; var error: HTTPParseError? }

    static func run(_ data: [UInt8], step: Int) -> Outcome {
        var p = RequestParser(limits: ParseLimits(maxBuffer: 1024, maxBody: 4096, maxHeaderCount: 20))
        var out = Outcome(), buf: [UInt8] = [], fed = 0
        for _ in 0..<100_000 {
            let r: ParseResult
            do { r = try buf.withUnsafeBytes { try p.parse($0) } } catch { out.error = error as? HTTPParseError; return out }
            #expect(r.consumed <= buf.count)
            switch r.event {
            case .head(let h): out.events.append("\(h.method) \(h.target) \(h.framing)")
            case .body(let range): out.body.append(contentsOf: buf[range])
            case .end: out.events.append("end")
            case .needMoreBytes:
                if fed == data.count { return out }
                let n = min(step, data.count - fed)
                buf.removeFirst(r.consumed); buf.append(contentsOf: data[fed..<(fed + n)]); fed += n
                continue
            }
            buf.removeFirst(r.consumed)
        }
        Issue.record("no progress")
        return out
    }

    @Test func corpusIsPresent() { #expect(Self.files.count >= 6) }

    @Test(arguments: files)
    func replay(_ file: URL) throws {
        let data = [UInt8](try Data(contentsOf: file))
        let whole = Self.run(data, step: max(data.count, 1))
        #expect(whole == Self.run(data, step: 1), "\(file.lastPathComponent)")
        #expect(whole == Self.run(data, step: 7), "\(file.lastPathComponent)")
    }
}
