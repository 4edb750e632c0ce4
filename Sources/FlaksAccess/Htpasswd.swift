#if canImport(Glibc)
import Glibc
#endif

/// A parsed htpasswd file: users and their password hashes, checked with crypt(3).
///
/// Accepted hashes (what `htpasswd -B` and `mkpasswd -m sha-512` / `openssl passwd -6` write):
/// - bcrypt `$2y$`, `$2b$`, `$2a$` with a cost of 4 to `maxBcryptCost` (14, ~0.7 s per check on
///   this class of machine; every failed login costs that much CPU, so more is refused);
/// - SHA-512-crypt `$6$`, with an optional `rounds=N$` (default 5000) of at most `maxSHA512Rounds`
///   (4,000,000, about the time of bcrypt cost 14).
///
/// Refused, with the line named: MD5 (`$apr1$`, `$1$`), SHA-1 (`{SHA}`), DES crypt and plain text
/// (weak: fast to brute-force from a leaked file); also any other scheme (`$5$`, `$y$`, `$2x$`)
/// until someone needs it. A file with a refused line does not load at all, so a reload keeps the
/// previous file rather than running with part of it.
///
/// File format (Apache's): one `user:hash` per line; the user is everything before the first `:`;
/// lines that are empty, blank or start with `#` (after optional whitespace) are ignored; CRLF line
/// ends are accepted; whitespace after the hash is ignored. A user may appear once: a second line
/// for the same user is an error (Apache would silently use the first). Users are matched byte for
/// byte (no Unicode normalisation, no case folding).
public struct Htpasswd: Sendable {
    /// The largest bcrypt cost accepted.
    public static let maxBcryptCost = 14
    /// The largest SHA-512-crypt rounds accepted.
    public static let maxSHA512Rounds = 4_000_000
    /// Passwords longer than this many bytes fail at once, without hashing: SHA-512-crypt's time
    /// grows with the password's length, and bcrypt reads only the first 72 bytes anyway.
    public static let maxPasswordBytes = 256

    /// The hashing scheme of an entry, with its work factor.
    public enum Scheme: Sendable, Hashable {
        /// bcrypt; `cost` is log2 of the rounds.
        case bcrypt(cost: Int)
        /// SHA-512-crypt; `rounds` as written, or 5000 when absent.
        case sha512Crypt(rounds: Int)
    }

    /// One user's line.
    public struct Entry: Sendable, Hashable {
        /// The user name, as in the file.
        public let user: String
        /// The crypt(3) string.
        public let hash: String
        /// Its scheme and work factor.
        public let scheme: Scheme
        /// The 1-based line number in the file.
        public let line: Int
    }

    /// The file's path (or the name given to `init(parsing:file:)`), for messages.
    public let file: String
    /// The entries, in file order.
    public let entries: [Entry]
    /// The setting an unknown user's password is hashed with: the scheme and work factor most
    /// entries use (ties: the costlier), a fixed salt. An unknown user thus costs what a known
    /// one does, and the time of a 401 does not tell whether the user exists.
    public let dummySetting: String
    private let byUser: [[UInt8]: Int]

    /// Parses the text of an htpasswd file; `file` names it in errors.
    public init(parsing text: String, file: String) throws(HtpasswdError) {
        self.file = file
        var entries: [Entry] = []
        var byUser: [[UInt8]: Int] = [:]
        var lineNumber = 0
        // Split on bytes: as Characters, "\r\n" is one grapheme and would not split at "\n".
        for raw in Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = raw
            if line.last == 0x0D { line = line.dropLast() }
            while let last = line.last, last == 0x20 || last == 0x09 { line = line.dropLast() }
            let firstVisible = line.first { $0 != 0x20 && $0 != 0x09 }
            if firstVisible == nil || firstVisible == 0x23 { continue }  // blank, or a '#' comment
            guard let colon = line.firstIndex(of: 0x3A) else {
                throw HtpasswdError(file: file, line: lineNumber, message: "expected user:hash")
            }
            let user = String(decoding: line[..<colon], as: UTF8.self)
            let hash = String(decoding: line[(colon + 1)...], as: UTF8.self)
            guard !user.isEmpty else { throw HtpasswdError(file: file, line: lineNumber, message: "empty user name") }
            guard user.utf8.count <= 255, !user.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw HtpasswdError(file: file, line: lineNumber, message: "invalid user name")
            }
            let scheme: Scheme
            switch Htpasswd.classify(hash) {
            case .success(let s): scheme = s
            case .failure(let f): throw HtpasswdError(file: file, line: lineNumber, message: "user \(user): \(f.message)")
            }
            let key = Array(user.utf8)
            if let first = byUser[key] {
                throw HtpasswdError(file: file, line: lineNumber,
                                    message: "user \(user) is already defined on line \(entries[first].line)")
            }
            byUser[key] = entries.count
            entries.append(Entry(user: user, hash: hash, scheme: scheme, line: lineNumber))
        }
        self.entries = entries
        self.byUser = byUser
        guard let dummy = Htpasswd.dummySetting(for: entries) else {
            throw HtpasswdError(file: file, line: nil, message: "libcrypt cannot make a setting for this file's hashes")
        }
        dummySetting = dummy
    }

    /// Reads and parses the file at `path` (at start and on every reload; never per request).
    public static func load(path: String) throws(HtpasswdError) -> Htpasswd {
        let text: String
        switch readFile(path) {
        case .success(let t): text = t
        case .failure(let m): throw HtpasswdError(file: path, line: nil, message: m.text)
        }
        return try Htpasswd(parsing: text, file: path)
    }

    /// The entry for `user`, or nil.
    public func entry(for user: String) -> Entry? {
        byUser[Array(user.utf8)].map { entries[$0] }
    }

    /// Checks a password: hashes it with the user's setting and compares in constant time; for an
    /// unknown user hashes it with `dummySetting` and answers `.unknownUser`.
    ///
    /// Blocks for the length of one hash: call on the worker pool (the pool's size is what bounds
    /// the number of checks running at once to `threads`).
    public func check(user: String, password: String, hasher: some PasswordHasher = Crypt()) -> PasswordCheck {
        let pw = Array(password.utf8)
        guard let index = byUser[Array(user.utf8)] else {
            if pw.count <= Htpasswd.maxPasswordBytes && !pw.contains(0) {
                let burnt = hasher.hash(password: pw, setting: dummySetting) ?? []
                _ = Crypt.constantTimeEquals(burnt, Array(dummySetting.utf8))
            }
            return .unknownUser
        }
        guard pw.count <= Htpasswd.maxPasswordBytes, !pw.contains(0) else { return .wrongPassword }
        let entry = entries[index]
        let stored = Array(entry.hash.utf8)
        guard let computed = hasher.hash(password: pw, setting: entry.hash) else { return .wrongPassword }
        return Crypt.constantTimeEquals(computed, stored) ? .valid : .wrongPassword
    }

    /// The same, for parsed credentials.
    public func check(_ credentials: BasicCredentials, hasher: some PasswordHasher = Crypt()) -> PasswordCheck {
        check(user: credentials.user, password: credentials.password, hasher: hasher)
    }

    // MARK: Classification

    /// The scheme of a crypt string, or the reason it is refused.
    static func classify(_ hash: String) -> Result<Scheme, ClassifyFailure> {
        let b = Array(hash.utf8)
        func isCryptChar(_ c: UInt8) -> Bool {  // the crypt base64 alphabet [./0-9A-Za-z]
            (c >= 0x2E && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        }
        if hash.hasPrefix("$2y$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2a$") {
            // $2y$NN$ + 22 salt + 31 hash characters = 60 bytes.
            guard b.count == 60, b[6] == 0x24, let d1 = digit(b[4]), let d2 = digit(b[5]),
                  b[7...].allSatisfy(isCryptChar)
            else { return .failure("malformed bcrypt hash") }
            let cost = d1 * 10 + d2
            guard cost >= 4 else { return .failure("bcrypt cost \(cost) is below 4") }
            guard cost <= maxBcryptCost else {
                return .failure("bcrypt cost \(cost) is above \(maxBcryptCost) (each check would take too long; rehash with htpasswd -B -C \(maxBcryptCost) or less)")
            }
            return .success(.bcrypt(cost: cost))
        }
        if hash.hasPrefix("$6$") {
            var parts = hash.utf8.dropFirst(3).split(separator: 0x24, omittingEmptySubsequences: false).map(Array.init)
            var rounds = 5000
            if parts.count == 3, parts[0].starts(with: Array("rounds=".utf8)) {
                let digits = parts[0].dropFirst(7)
                guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ digit($0) != nil }) else {
                    return .failure("malformed SHA-512-crypt rounds")
                }
                rounds = digits.reduce(0) { $0 * 10 + (digit($1) ?? 0) }
                parts.removeFirst()
            }
            guard parts.count == 2, parts[0].count <= 16, parts[0].allSatisfy(isCryptChar),
                  parts[1].count == 86, parts[1].allSatisfy(isCryptChar)
            else { return .failure("malformed SHA-512-crypt hash") }
            guard rounds <= maxSHA512Rounds else {
                return .failure("SHA-512-crypt rounds \(rounds) are above \(maxSHA512Rounds) (each check would take too long)")
            }
            return .success(.sha512Crypt(rounds: max(rounds, 1000)))  // below 1000 crypt uses 1000
        }
        let weak: String
        if hash.hasPrefix("$apr1$") || hash.hasPrefix("$1$") {
            weak = "MD5 hashes ($apr1$, $1$) are refused as weak"
        } else if hash.hasPrefix("{SHA}") {
            weak = "SHA-1 hashes ({SHA}) are refused as weak"
        } else if hash.hasPrefix("$") {
            let scheme = hash.split(separator: "$", maxSplits: 2).first.map { "$\($0)$" } ?? "$"
            weak = "unsupported hash scheme \(scheme)"
        } else if b.count == 13 && b.allSatisfy(isCryptChar) {
            weak = "DES crypt hashes are refused as weak"
        } else {
            weak = "not a bcrypt or SHA-512-crypt hash (plain-text passwords are refused)"
        }
        return .failure(ClassifyFailure(weak + "; use htpasswd -B"))
    }

    struct ClassifyFailure: Error, Equatable, ExpressibleByStringInterpolation {
        var message: String
        init(_ m: String) { message = m }
        init(stringLiteral m: String) { message = m }
    }

    private static func digit(_ c: UInt8) -> Int? { c >= 0x30 && c <= 0x39 ? Int(c - 0x30) : nil }

    /// The dummy setting: the commonest (scheme, work factor) of the entries, the costlier on a tie;
    /// bcrypt cost 5 (htpasswd -B's default) for a file without entries. Fixed salt bytes: the
    /// setting needs to cost the same, not to be secret.
    static func dummySetting(for entries: [Entry]) -> String? {
        var counts: [Scheme: Int] = [:]
        for e in entries { counts[e.scheme, default: 0] += 1 }
        func weight(_ s: Scheme) -> Int {
            switch s {
            case .bcrypt(let c): 1 << c  // 2^cost rounds of the expensive key schedule
            case .sha512Crypt(let r): r / 1000
            }
        }
        let typical = counts.max { a, b in
            a.value != b.value ? a.value < b.value : weight(a.key) < weight(b.key)
        }?.key ?? .bcrypt(cost: 5)
        let salt: [UInt8] = Array("flaks-dummy-salt".utf8)  // 16 bytes
        switch typical {
        case .bcrypt(let cost): return Crypt.setting(prefix: "$2b$", count: cost, saltBytes: salt)
        case .sha512Crypt(let rounds): return Crypt.setting(prefix: "$6$", count: rounds, saltBytes: salt)
        }
    }

    /// The file as UTF-8 text (at most 16 MiB), or the reason it cannot be read.
    static func readFile(_ path: String) -> Result<String, HtpasswdError.Message> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.init("cannot open: \(describe(errno))")) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.init("cannot read: \(describe(errno))"))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            if bytes.count > 16 << 20 { return .failure(.init("larger than 16 MiB")) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(.init("the file is not valid UTF-8"))
        }
        return .success(text)
    }

    private static func describe(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }
}

/// The outcome of a password check.
public enum PasswordCheck: Sendable, Equatable {
    /// The user exists and the password matches.
    case valid
    /// The user exists and the password does not match (or is longer than `maxPasswordBytes`).
    case wrongPassword
    /// No such user (a dummy check was run).
    case unknownUser
}

/// Why an htpasswd file did not load: the file, the 1-based line when a line is at fault, and what
/// is wrong. The manifest loader reports it at the `auth.users` key (a manifest error: at start
/// the server does not start, at reload the old configuration stays).
public struct HtpasswdError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
    }

    /// A message without a position (for `Result`).
    struct Message: Error { var text: String; init(_ t: String) { text = t } }
}
