import COpenSSL
import Foundation
import Testing
@testable import FlaksTLS

/// Replays the TLS fuzz seeds and every saved TLS crasher (FuzzTesting/FailCases/tls-*) under
/// the invariants FuzzTLS checks (see FuzzTesting/Sources/FuzzTLS).
@Suite("TLS fuzz corpus and fail cases replay")
struct TLSFuzzReplayTests {
    static var files: [URL] {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let corpus = here.appendingPathComponent("Corpus")
        let fails = here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzTesting/FailCases")
        let seeds = (try? FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil)) ?? []
        let crashers = ((try? FileManager.default.contentsOfDirectory(at: fails, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.lastPathComponent.hasPrefix("tls-") }
        return (seeds + crashers).filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    enum Outcome: Equatable { case wantsInput, complete, failed(TLSFailure.Kind) }

    static func fresh(_ ctx: TLSServerContext, _ input: [UInt8], step: Int) throws -> Outcome {
        let s = try ctx.makeSession()
        var offset = 0
        var result = TLSSession.HandshakeResult.wantsInput
        while offset < input.count {
            let taken = s.feed(Array(input[offset..<min(input.count, offset + step)]))
            if taken == 0 { break }
            offset += taken
            result = s.handshake()
            #expect(s.pendingOutput <= 16 * 1024)
            _ = s.takeOutput()
            if case .failed = result { break }
        }
        switch result {
        case .wantsInput: return .wantsInput
        case .complete: return .complete
        case .failed(let f): return .failed(f.kind)
        }
    }

    @Test func corpusIsPresent() { #expect(Self.files.count >= 5) }

    @Test(arguments: files)
    func replay(_ file: URL) throws {
        let data = [UInt8](try Data(contentsOf: file))
        guard let mode = data.first else { return }
        let input = Array(data.dropFirst())
        let ctx = try TestPKI.shared.context()
        if mode & 1 == 0 {
            let whole = try Self.fresh(ctx, input, step: Int.max)
            #expect(whole != .complete)
            #expect(try Self.fresh(ctx, input, step: Int(mode >> 1) + 1) == whole, "\(file.lastPathComponent)")
            #expect(try Self.fresh(ctx, input, step: 1) == whole, "\(file.lastPathComponent)")
            return
        }
        // Records after a real handshake: they were sealed with other keys, so the session must fail.
        let client = TestTLSClient(.init(serverName: "a.test"))
        let session = try ctx.makeSession()
        try #require(pumpHandshake(client, session).ok)
        session.feed(input)
        var buf = [UInt8](repeating: 0, count: 4096)
        var last = TLSSession.ReadResult.wantsInput
        for _ in 0..<1000 {
            last = buf.withUnsafeMutableBytes { session.readPlaintext(into: $0) }
            if case .bytes = last { continue }
            break
        }
        if !input.isEmpty, file.lastPathComponent == "appdata-record" {
            guard case .failed(let f) = last else { Issue.record("foreign record accepted: \(last)"); return }
            #expect(f.reason == "decryption failed or bad record mac" || f.reason == "bad record mac", "\(f)")
        }
    }
}
