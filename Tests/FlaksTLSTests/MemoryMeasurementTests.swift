#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Foundation
import Testing
@testable import FlaksTLS

/// Heap bytes per server session, idle and mid-transfer (the numbers in docs/tls.md). Opt-in
/// (FLAKS_TLS_MEASURE=1, run alone with --filter) because other tests running in parallel in the
/// same process would move the heap under it.
@Suite("TLS session memory", .enabled(if: ProcessInfo.processInfo.environment["FLAKS_TLS_MEASURE"] != nil), .serialized)
struct MemoryMeasurementTests {
    /// Heap bytes in use from glibc's malloc_info report (malloc.h is not in the Glibc module, so
    /// the function is found with dlsym): system memory of all arenas plus mmapped chunks, minus
    /// free chunks.
    static func heapInUse() -> Int {
        typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_info") else { return 0 }
        let mallocInfo = unsafeBitCast(sym, to: MallocInfo.self)
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let f = open_memstream(&buffer, &size) else { return 0 }
        _ = mallocInfo(0, f)
        fclose(f)
        defer { free(buffer) }
        guard let buffer else { return 0 }
        let xml = String(cString: buffer)
        // The totals after the last </heap>.
        let tail = xml.components(separatedBy: "</heap>").last ?? xml
        func value(_ prefix: String) -> Int {
            guard let r = tail.range(of: prefix) else { return 0 }
            let rest = tail[r.upperBound...]
            let sizeKey = rest.range(of: "size=\"")!
            let digits = rest[sizeKey.upperBound...].prefix { $0.isNumber }
            return Int(digits) ?? 0
        }
        return value("<system type=\"current\"") + value("<total type=\"mmap\"")
            - value("<total type=\"fast\"") - value("<total type=\"rest\"")
    }

    static func trim() {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") { _ = unsafeBitCast(sym, to: MallocTrim.self)(0) }
    }

    @Test(arguments: [TLS1_2_VERSION, TLS1_3_VERSION])
    func perSession(version: Int32) throws {
        let ctx = try TestPKI.shared.context()
        let count = 300
        var sessions: [TLSSession] = []
        let before = Self.heapInUse()
        do {
            var clients: [TestTLSClient] = []
            for _ in 0..<count {
                let client = TestTLSClient(.init(serverName: "a.test", minVersion: version, maxVersion: version))
                let session = try ctx.makeSession()
                try #require(pumpHandshake(client, session).ok)
                client.write(Array("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".utf8))
                session.feed(client.takeOutput())
                var buf = [UInt8](repeating: 0, count: 4096)
                while case .bytes = buf.withUnsafeMutableBytes({ session.readPlaintext(into: $0) }) {}
                _ = session.writePlaintext(Array("HTTP/1.1 204 No Content\r\n\r\n".utf8))
                client.feed(session.takeOutput())
                _ = client.read()
                sessions.append(session)
                clients.append(client)
            }
            clients.removeAll()
        }
        Self.trim()
        let idle = (Self.heapInUse() - before) / count
        // Mid-transfer: 64 KiB of response ciphertext waiting and a partly fed request record.
        let busyBefore = Self.heapInUse()
        for s in sessions {
            _ = s.writePlaintext([UInt8](repeating: 0x61, count: 64 * 1024))
        }
        let busy = (Self.heapInUse() - busyBefore) / count
        print("TLS session memory (\(version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2"), ECDSA P-256): idle \(idle) bytes, +\(busy) bytes with 64 KiB of output pending")
        #expect(idle < 20 * 1024)
        #expect(busy < 64 * 1024 + 40 * 1024)
        for s in sessions { _ = s.takeOutput(); s.releaseIdleBuffers() }
        let released = (Self.heapInUse() - busyBefore) / count
        print("  after the output was taken and idle buffers released: +\(released) bytes")
        #expect(released < 2 * 1024)
    }
}
