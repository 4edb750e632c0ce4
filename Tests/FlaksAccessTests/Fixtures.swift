import FlaksAccess
import FlaksSync
import Foundation

/// A temporary directory for htpasswd files, removed by `remove()`.
struct TempDir {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/flaks-access-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: p)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a command, returns its standard output; throws on a non-zero exit.
func run(_ argv: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = argv
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CommandFailed(argv: argv, status: p.terminationStatus) }
    return String(decoding: data, as: UTF8.self)
}

struct CommandFailed: Error { var argv: [String]; var status: Int32 }

/// `htpasswd -nbB -C cost user password`'s line (user:hash), without the newline.
func bcryptLine(_ user: String, _ password: String, cost: Int = 5) throws -> String {
    try run(["htpasswd", "-nbB", "-C", String(cost), user, password]).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A SHA-512-crypt hash from `openssl passwd -6`.
func sha512Hash(_ password: String) throws -> String {
    try run(["openssl", "passwd", "-6", password]).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A hasher that records every setting it is asked to hash with, then hashes for real.
final class CountingHasher: PasswordHasher {
    let settings = Locked<[String]>([])
    func hash(password: [UInt8], setting: String) -> [UInt8]? {
        settings.withLock { $0.append(setting) }
        return Crypt().hash(password: password, setting: setting)
    }
    var calls: [String] { settings.withLock { $0 } }
}
