import FlaksSync
import FlaksTLS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the storage could not be read or written: the path and the errno text or the problem.
public struct ACMEStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "acme storage \(path): \(reason)" }
}

/// The files under `tls.acme.storage` (shared between replicas):
///
/// ```
/// STORAGE/                                  0700
///   accounts/CA/account.key                 0600  account key, PKCS#8 PEM (ECDSA P-256)
///   accounts/CA/account.json                0600  {"url": account URL, "directory": directory URL}
///   certificates/NAME/key.pem               0600  the certificate's key
///   certificates/NAME/chain.pem             0600  leaf first, as the CA sent it
///   certificates/NAME/meta.json             0600  names, issuer, serial, notBefore, notAfter, certID, directory, issuedAt
///   certificates/NAME.lock                  0600  flock'ed by the replica that is ordering
/// ```
///
/// CA is the directory URL made a file name (`acme-v02.api.letsencrypt.org_directory`), so a
/// staging and a production account never mix; NAME is the host's first name. Every file is
/// written to a temporary name and renamed over the old one (a reader sees the old file or the
/// new one, never half of one); a reader that finds key and chain not matching (read between
/// the two renames) treats the certificate as not there yet and tries again later.
///
/// Blocking file I/O: call from a worker, never from a loop.
public struct ACMEStorage: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    // MARK: paths

    /// `https://acme-v02.api.letsencrypt.org/directory` → `acme-v02.api.letsencrypt.org_directory`.
    public static func caDirectoryName(_ directoryURL: String) -> String {
        var s = directoryURL
        for prefix in ["https://", "http://"] where s.lowercased().hasPrefix(prefix) { s = String(s.dropFirst(prefix.count)) }
        let mapped = s.unicodeScalars.map { c -> Character in
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "."
            return ok ? Character(c) : "_"
        }
        var name = String(mapped)
        while name.hasSuffix("_") { name.removeLast() }
        if name.isEmpty || name.allSatisfy({ $0 == "." }) { name = "ca" }
        return String(name.prefix(200))
    }

    func accountDirectory(_ directoryURL: String) -> String { root + "/accounts/" + Self.caDirectoryName(directoryURL) }

    /// The directory of the certificate whose first name is `name` (a checked DNS name).
    public func certificateDirectory(_ name: String) -> String { root + "/certificates/" + name.lowercased() }

    // MARK: account

    /// The account key for this CA, made (ECDSA P-256) and written (0600) the first time.
    public func loadOrCreateAccountKey(directoryURL: String) throws(ACMEStorageError) -> ACMEAccountKey {
        let dir = accountDirectory(directoryURL)
        let path = dir + "/account.key"
        let key: PrivateKey
        if let bytes = try Self.readIfPresent(path) {
            do { key = try PrivateKey.readPEM(bytes, path: path) } catch { throw ACMEStorageError(path: path, reason: error.description) }
        } else {
            do { key = try PrivateKey.generate(.ecdsaP256) } catch { throw ACMEStorageError(path: path, reason: error.description) }
            try Self.makeDirectories(dir)
            try Self.writeAtomically(path, Array(key.pem.utf8))
        }
        do { return try ACMEAccountKey(key) } catch { throw ACMEStorageError(path: path, reason: error.description) }
    }

    /// Records the account URL (informational: the machine looks the account up by its key).
    public func saveAccountURL(_ url: String, directoryURL: String) throws(ACMEStorageError) {
        let dir = accountDirectory(directoryURL)
        try Self.makeDirectories(dir)
        try Self.writeAtomically(dir + "/account.json",
                                 JSONValue.object(["url": .string(url), "directory": .string(directoryURL)]).serialized + [0x0A])
    }

    /// The recorded account URL, if any.
    public func accountURL(directoryURL: String) -> String? {
        guard let bytes = try? Self.readIfPresent(accountDirectory(directoryURL) + "/account.json"),
              let json = try? JSONParser.parse(bytes) else { return nil }
        return json["url"]?.stringValue
    }

    // MARK: certificates

    /// A certificate found in storage.
    public struct StoredCertificate: Sendable {
        public var certificate: ServerCertificate
        /// The names it was ordered for (meta.json), else its DNS SANs.
        public var names: [String]
        public var chainPEM: String
        public var keyPEM: String
    }

    /// What `loadCertificate` found.
    public enum LoadResult: Sendable {
        case absent
        case found(StoredCertificate)
        /// Key and chain do not match or do not parse: written right now by another replica, or
        /// damaged. Try again later (and order if it stays so).
        case inconsistent(String)
    }

    /// Reads `certificates/NAME/` (key, chain, meta).
    public func loadCertificate(name: String) throws(ACMEStorageError) -> LoadResult {
        let dir = certificateDirectory(name)
        guard let chain = try Self.readIfPresent(dir + "/chain.pem"), let key = try Self.readIfPresent(dir + "/key.pem") else {
            return .absent
        }
        let certificate: ServerCertificate
        do {
            certificate = try ServerCertificate(chain: X509Certificate.readPEM(chain, path: dir + "/chain.pem"),
                                                key: PrivateKey.readPEM(key, path: dir + "/key.pem"),
                                                certificatePath: dir + "/chain.pem", keyPath: dir + "/key.pem")
        } catch {
            return .inconsistent(error.description)
        }
        var names = certificate.info.dnsNames
        if let meta = try Self.readIfPresent(dir + "/meta.json"), let json = try? JSONParser.parse(meta),
           let list = json["names"]?.arrayValue?.compactMap(\.stringValue), !list.isEmpty {
            names = list
        }
        return .found(StoredCertificate(certificate: certificate, names: names,
                                        chainPEM: String(decoding: chain, as: UTF8.self), keyPEM: String(decoding: key, as: UTF8.self)))
    }

    /// Writes an issued certificate: key, then chain, then meta.json, each atomically.
    public func saveCertificate(_ issued: ACMEIssuedCertificate, directoryURL: String, now: Int64) throws(ACMEStorageError) {
        guard let first = issued.names.first else { throw ACMEStorageError(path: root, reason: "a certificate without names") }
        let dir = certificateDirectory(first)
        try Self.makeDirectories(dir)
        try Self.writeAtomically(dir + "/key.pem", Array(issued.keyPEM.utf8))
        try Self.writeAtomically(dir + "/chain.pem", Array(issued.chainPEM.utf8))
        let info = issued.certificate.info
        var meta: [JSONMember] = [
            JSONMember(name: "names", value: .array(issued.names.map { .string($0) })),
            JSONMember(name: "issuer", value: .string(info.issuer)),
            JSONMember(name: "serial", value: .string(info.serial)),
            JSONMember(name: "notBefore", value: .number(String(info.notBefore))),
            JSONMember(name: "notAfter", value: .number(String(info.notAfter))),
            JSONMember(name: "directory", value: .string(directoryURL)),
            JSONMember(name: "order", value: .string(issued.orderURL)),
            JSONMember(name: "issuedAt", value: .number(String(now))),
        ]
        if let id = ARIWindow.certificateID(issued.certificate.leaf) { meta.append(JSONMember(name: "certID", value: .string(id))) }
        try Self.writeAtomically(dir + "/meta.json", JSONValue.object(meta).serialized + [0x0A])
    }

    // MARK: lock

    /// Takes `certificates/NAME.lock` without waiting (flock, LOCK_EX | LOCK_NB): nil when another
    /// process (a replica sharing the storage) holds it. The kernel drops the lock when the
    /// holder dies, so a crashed replica leaves no stale lock. The file records who holds it.
    public func tryLock(name: String, now: Int64) throws(ACMEStorageError) -> ACMEStorageLock? {
        try Self.makeDirectories(root + "/certificates")
        let path = certificateDirectory(name) + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ACMEStorageError(path: path, reason: Self.errnoText()) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw ACMEStorageError(path: path, reason: String(cString: strerror(e)))
        }
        let note = Array("pid=\(getpid()) since=\(now)\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = note.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        return ACMEStorageLock(fd: fd, path: path)
    }

    // MARK: files

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// `mkdir -p` with mode 0700 for the directories it creates.
    static func makeDirectories(_ path: String) throws(ACMEStorageError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw ACMEStorageError(path: current, reason: errnoText())
            }
        }
    }

    /// Writes `bytes` to a temporary file beside `path` (0600), fsyncs it and renames it over
    /// `path`.
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(ACMEStorageError) {
        let tmp = path + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ACMEStorageError(path: tmp, reason: errnoText()) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buf -> Int in
                guard let base = buf.baseAddress else { return 0 }
                return write(fd, base + written, buf.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let why = errnoText()
                close(fd); unlink(tmp)
                throw ACMEStorageError(path: tmp, reason: why)
            }
            written += n
        }
        if fsync(fd) != 0 { let why = errnoText(); close(fd); unlink(tmp); throw ACMEStorageError(path: tmp, reason: why) }
        close(fd)
        if rename(tmp, path) != 0 { let why = errnoText(); unlink(tmp); throw ACMEStorageError(path: path, reason: why) }
    }

    /// The file's bytes, or nil when it does not exist. At most 1 MiB.
    static func readIfPresent(_ path: String, limit: Int = 1 << 20) throws(ACMEStorageError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw ACMEStorageError(path: path, reason: errnoText())
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ACMEStorageError(path: path, reason: errnoText())
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            guard out.count <= limit else { throw ACMEStorageError(path: path, reason: "larger than \(limit) bytes") }
        }
    }
}

/// A held storage lock; `release()` (or deinit) unlocks and closes it.
///
public final class ACMEStorageLock: Sendable {
    private let fd: Int32
    public let path: String
    private let released = Locked(false)   // any thread; the descriptor is closed once

    init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// Unlocks (other replicas may order again) and closes the file. Idempotent.
    public func release() {
        let first = released.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    deinit { release() }
}
