import Foundation
import Testing
@testable import FlaksHTTP

/// Replays the response fuzzer's seed corpus and every saved crasher through the parser, whole, byte
/// by byte and in 7-byte slices, under the scenario the fuzz target reads from the first byte (see
/// FuzzTesting/Sources/FuzzResponseParser/main.swift).
@Suite("Response fuzz corpus and fail cases replay")
struct ResponseParserFuzzReplayTests {
    static var files: [URL] {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let dirs = [here.appendingPathComponent("ResponseCorpus"),
                    here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzTesting/ResponseFailCases")]
        return dirs.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }.sorted { $0.path < $1.path }
    }

    /// The fuzz target's scenario byte: bit 0 HEAD first, bit 1 Upgrade, bit 2 EOF at the end, bit 3 three requests.
    static func scenario(_ flags: UInt8) -> (sent: [Sent], endInput: Bool) {
        let upgrade = flags & 2 != 0
        var sent = [Sent(method: flags & 1 != 0 ? .HEAD : .GET, upgrade: upgrade)]
        if flags & 8 != 0 { sent += [Sent(method: .GET, upgrade: upgrade), Sent(method: .GET, upgrade: upgrade)] }
        return (sent, flags & 4 != 0)
    }

    @Test func corpusIsPresent() { #expect(Self.files.count >= 8) }

    @Test(arguments: files)
    func replay(_ file: URL) throws {
        let all = [UInt8](try Data(contentsOf: file))
        guard let flags = all.first else { return }
        let data = Array(all.dropFirst())
        let (sent, endInput) = Self.scenario(flags)
        let limits = ResponseParseLimits(maxHead: 1024, maxHeaderCount: 20, maxBody: 4096)
        let whole = ResponseHarness.run(data, cuts: [], limits: limits, sent: sent, endInput: endInput)
        let bytewise = ResponseHarness.run(data, cuts: Array(0..<data.count), limits: limits, sent: sent, endInput: endInput)
        let sevens = ResponseHarness.run(data, cuts: Array(stride(from: 7, to: data.count, by: 7)), limits: limits, sent: sent,
                                         endInput: endInput)
        #expect(whole == bytewise, "\(file.lastPathComponent)")
        #expect(whole == sevens, "\(file.lastPathComponent)")
    }

    /// The seed files are what they claim: each parses to the outcome named here.
    @Test func seedsParseAsNamed() throws {
        let expected: [String: String] = [
            "cl": "ok", "chunked-trailers": "ok", "close-delimited": "ok", "head": "ok", "interim": "ok",
            "upgrade": "tunnel", "pipelined": "ok", "truncated": "truncated", "cl-te": "malformed",
        ]
        for file in Self.files where expected[file.lastPathComponent] != nil {
            let all = [UInt8](try Data(contentsOf: file))
            let (sent, endInput) = Self.scenario(all[0])
            let outcome = ResponseHarness.run(Array(all.dropFirst()), cuts: [], sent: sent, endInput: endInput)
            let got = switch outcome.error {
            case .some(.truncated): "truncated"
            case .some(.malformed): "malformed"
            case .some: "other error"
            case nil: outcome.tunnel != nil ? "tunnel" : outcome.responses.allSatisfy(\.complete) ? "ok" : "incomplete"
            }
            #expect(got == expected[file.lastPathComponent], "\(file.lastPathComponent): \(outcome)")
        }
    }
}
