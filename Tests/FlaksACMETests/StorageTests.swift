import Foundation
import Testing
@testable import FlaksACME
@testable import FlaksTLS

@Suite("ACME storage and HTTP-01 responder")
struct StorageTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "flaks-acme-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("account key: made once (0600 in 0700 directories), then read back; per CA")
    func accountKey() throws {
        let root = try tempDir() + "/acme"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = ACMEStorage(root: root)
        let dir = "https://acme.example/directory"
        let a = try storage.loadOrCreateAccountKey(directoryURL: dir)
        let b = try storage.loadOrCreateAccountKey(directoryURL: dir)
        #expect(a.thumbprint == b.thumbprint)
        let other = try storage.loadOrCreateAccountKey(directoryURL: "https://staging.example/dir")
        #expect(other.thumbprint != a.thumbprint)
        let keyPath = root + "/accounts/acme.example_directory/account.key"
        #expect(try mode(keyPath) == 0o600)
        #expect(try mode(root) == 0o700)
        #expect(try mode(root + "/accounts") == 0o700)
        try storage.saveAccountURL("https://acme.example/acct/9", directoryURL: dir)
        #expect(storage.accountURL(directoryURL: dir) == "https://acme.example/acct/9")
        #expect(try mode(root + "/accounts/acme.example_directory/account.json") == 0o600)
        #expect(ACMEStorage.caDirectoryName("https://127.0.0.1:14000/dir") == "127.0.0.1_14000_dir")
        #expect(ACMEStorage.caDirectoryName("https://x/../../etc/") == "x_.._.._etc")
        // No temporary files left behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/accounts/acme.example_directory")
        #expect(files.sorted() == ["account.json", "account.key"])
    }

    @Test("certificate: saved (key, chain, meta; 0600) and loaded at start; mismatch is inconsistent")
    func certificate() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = ACMEStorage(root: root)
        #expect({ if case .absent? = try? storage.loadCertificate(name: "a.test") { return true }; return false }())
        let ca = try FakeCA()
        var m = try makeMachine(ca)
        let issued = try #require(drive(&m, ca).issued)
        try storage.saveCertificate(issued, directoryURL: ca.directoryURL, now: testNow)
        let dir = root + "/certificates/a.test"
        for f in ["key.pem", "chain.pem", "meta.json"] { #expect(try mode(dir + "/" + f) == 0o600, "\(f)") }
        guard case .found(let stored) = try storage.loadCertificate(name: "a.test") else { Issue.record("not found"); return }
        #expect(stored.names == ["a.test", "www.a.test"])
        #expect(stored.certificate.info.serial == issued.certificate.info.serial)
        let meta = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/meta.json"))))
        #expect(meta["notAfter"]?.intValue == Int(issued.certificate.info.notAfter))
        #expect(meta["certID"]?.stringValue == ARIWindow.certificateID(issued.certificate.leaf))
        #expect(meta["directory"]?.stringValue == ca.directoryURL)

        // A replica caught between the key and the chain rename: key of another certificate.
        try PrivateKey.generate(.ecdsaP256).pem.write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        guard case .inconsistent = try storage.loadCertificate(name: "a.test") else { Issue.record("mismatch not seen"); return }
    }

    @Test("lock: one holder at a time, in this process and against another process; released on release")
    func lock() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let storage = ACMEStorage(root: root)
        let first = try #require(try storage.tryLock(name: "a.test", now: testNow))
        #expect(try storage.tryLock(name: "a.test", now: testNow) == nil)
        #expect(try storage.tryLock(name: "b.test", now: testNow) != nil)
        #expect(try mode(root + "/certificates/a.test.lock") == 0o600)
        // Another process (flock(1), as a replica would) cannot take it either.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") {
            #expect(try runFlock(root + "/certificates/a.test.lock") == 1)
        }
        first.release()
        first.release()   // idempotent
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") {
            #expect(try runFlock(root + "/certificates/a.test.lock") == 0)
        }
        let again = try storage.tryLock(name: "a.test", now: testNow)
        #expect(again != nil)
        let note = try String(contentsOfFile: root + "/certificates/a.test.lock", encoding: .utf8)
        #expect(note.hasPrefix("pid=\(getpid()) since=\(testNow)"))
    }

    func runFlock(_ path: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        p.arguments = ["-n", path, "true"]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test("HTTP-01 responder: published tokens only, withdrawn on request")
    func responder() {
        let r = ACMEChallengeResponder()
        #expect(r.response(forPath: "/.well-known/acme-challenge/abc") == nil)
        r.perform(.serveHTTP01(token: "abc", keyAuthorization: "abc.thumb"))
        #expect(r.response(forPath: "/.well-known/acme-challenge/abc") == Array("abc.thumb".utf8))
        #expect(r.response(forPath: "/.well-known/acme-challenge/abcd") == nil)
        #expect(r.response(forPath: "/.well-known/acme-challenge/") == nil)
        #expect(r.response(forPath: "/other/abc") == nil)
        #expect(r.perform(.withdrawTLSALPN01(name: "x")) == false)
        r.perform(.withdrawHTTP01(token: "abc"))
        #expect(r.response(forPath: "/.well-known/acme-challenge/abc") == nil)
        #expect(r.count == 0)
    }
}
