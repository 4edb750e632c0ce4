import Foundation
import Testing
@testable import FlaksFastCGI

/// Replays the FastCGI fuzz seed corpus and every saved FuzzFastCGI crasher
/// (FuzzTesting/FailCases/fastcgi-*) through the decoder and the exchange, whole, split at every
/// byte and byte by byte, under the invariants the fuzz target checks.
@Suite("FastCGI fuzz corpus and fail cases replay")
struct FuzzReplayTests {
    static var files: [URL] {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let corpus = here.appendingPathComponent("Corpus")
        let failCases = here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzTesting/FailCases")
        let list = { (dir: URL) in (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [] }
        return (list(corpus).filter { !$0.lastPathComponent.hasPrefix(".") }
                + list(failCases).filter { $0.lastPathComponent.hasPrefix("fastcgi-") })
            .sorted { $0.path < $1.path }
    }

    @Test func corpusIsPresent() { #expect(Self.files.count >= 10) }

    @Test(arguments: files)
    func replay(_ file: URL) throws {
        let data = [UInt8](try Data(contentsOf: file))
        _ = decodeEveryWay(data)
        let started: FastCGIExchange = {
            var ex = FastCGIExchange(maxStderrLine: 64)
            _ = try? ex.start(params: [], body: [])
            return ex
        }()
        let whole = ExchangeTests.run(started, data, slices: [data.count])
        let bytewise = ExchangeTests.run(started, data, slices: Array(repeating: 1, count: data.count))
        // `keep` may differ only when a byte followed END_REQUEST (seen in the same buffer or not).
        func normalized(_ items: [ExchangeTests.Item]) -> [ExchangeTests.Item] {
            guard items.last == .failed(.contentAfterEndRequest) else { return items }
            return items.map { if case .complete(let a, let s, _) = $0 { .complete(a, s, keep: false) } else { $0 } }
        }
        #expect(normalized(whole.items) == normalized(bytewise.items), "\(file.lastPathComponent)")
    }
}
