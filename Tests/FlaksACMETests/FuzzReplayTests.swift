import Foundation
import Testing
@testable import FlaksACME

/// Replays the FuzzACME seeds (Corpus/) and every saved crasher (FuzzTesting/FailCases/acme-*)
/// under the invariants the fuzzer checks. `FLAKS_ACME_WRITE_CORPUS=1` rewrites the seeds from
/// the fake CA's real exchanges.
@Suite("ACME fuzz corpus and fail cases replay")
struct ACMEFuzzReplayTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static var files: [URL] {
        let corpus = here.appendingPathComponent("Corpus")
        let fails = here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzTesting/FailCases")
        let seeds = (try? FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil)) ?? []
        let crashers = ((try? FileManager.default.contentsOfDirectory(at: fails, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.lastPathComponent.hasPrefix("acme-") }
        return (seeds + crashers).filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test("every seed and fail case keeps the invariants")
    func replay() throws {
        let files = Self.files
        #expect(files.count >= 5)
        for f in files {
            let data = Array(try Data(contentsOf: f))
            #expect(ACMEFuzzHarness.run(data) == [], "\(f.lastPathComponent)")
            #expect(ACMEFuzzHarness.codecs(data) == [], "\(f.lastPathComponent)")
        }
    }

    @Test("a recorded happy exchange replays to a certificate through the harness format")
    func roundTrip() throws {
        let (data, _) = try Self.record(options: 1, configure: { _ in })
        let (_, responses) = ACMEFuzzHarness.decode(data)
        #expect(responses.count > 10)
        #expect(ACMEFuzzHarness.run(data) == [])
    }

    /// Records the fake CA's responses to a real order (in the harness format).
    static func record(options: UInt8, configure: (FakeCA) -> Void) throws -> ([UInt8], Bool) {
        let ca = try FakeCA()
        configure(ca)
        let challenges: [ACMEChallengeType] = [[.http01, .tlsALPN01], [.http01], [.tlsALPN01], [.tlsALPN01, .http01]][Int(options & 3)]
        var limits = ACMELimits()
        limits.maxPolls = 5
        limits.maxBadNonceRetries = 3
        var responses: [ACMEHTTPResponse] = []
        ca.override = { [unowned ca] r, k in ca.overrideRecorder(r, k, into: &responses) }
        var m = try makeMachine(ca, names: options & 8 == 0 ? ["a.test", "www.a.test"] : ["a.test"], challenges: challenges,
                                replaces: options & 4 == 0 ? nil : "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", limits: limits,
                                key: ACMEFuzzHarness.accountKey)
        let t = drive(&m, ca)
        return (ACMEFuzzHarness.encode(options: options, responses), t.issued != nil)
    }

    @Test("write seeds", .enabled(if: ProcessInfo.processInfo.environment["FLAKS_ACME_WRITE_CORPUS"] == "1"))
    func writeSeeds() throws {
        let corpus = Self.here.appendingPathComponent("Corpus")
        let scenarios: [(String, UInt8, (FakeCA) -> Void)] = [
            ("http01-two-names", 1, { _ in }),
            ("tlsalpn01-one-name", 2 | 8, { _ in }),
            ("badnonce-then-ok", 0 | 8, { $0.badNonces = 2 }),
            ("polls-retry-after", 1 | 8, { $0.pendingPolls = 2; $0.pollRetryAfter = "3"; $0.processingPolls = 2 }),
            ("authz-invalid", 1 | 8, { $0.failChallenge = .object(["type": .string("urn:ietf:params:acme:error:connection"), "detail": .string("refused")]) }),
            ("order-invalid", 1 | 8, { $0.invalidAtFinalize = .object(["type": .string("urn:ietf:params:acme:error:badCSR")]) }),
            ("existing-account-replaces", 1 | 4 | 8, { $0.accountExists = true; $0.offerRenewalInfo = true; $0.refuseReplaces = true }),
            ("rate-limited", 1, { $0.newOrderError = (429, .object(["type": .string("urn:ietf:params:acme:error:rateLimited"),
                "subproblems": .array([.object(["type": .string("urn:ietf:params:acme:error:caa"),
                                                "identifier": .object(["type": .string("dns"), "value": .string("a.test")])])])]),
                                                     [ACMEHeader("Retry-After", "Thu, 01 Jan 2026 01:00:00 GMT")]) }),
        ]
        for (name, options, configure) in scenarios {
            let (data, _) = try Self.record(options: options, configure: configure)
            try Data(data).write(to: corpus.appendingPathComponent(name))
        }
    }
}

extension FakeCA {
    /// Answers as the CA would and records the response.
    func overrideRecorder(_ request: ACMEHTTPRequest, _ n: Int, into responses: inout [ACMEHTTPResponse]) -> Override? {
        let saved = override
        override = nil
        requests.removeLast()
        let r = handle(request)
        override = saved
        if let r { responses.append(r); return .response(r) }
        return .transportFailure
    }
}
