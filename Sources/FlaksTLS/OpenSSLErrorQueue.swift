import COpenSSL

/// OpenSSL's per-thread error queue. Every call into libssl that can fail starts from an empty
/// queue (a stale entry left by another connection on the same loop thread would otherwise be
/// blamed on this one) and drains it afterwards.
enum OpenSSLErrorQueue {
    /// One queued error: the packed code and OpenSSL's reason text ("http request").
    struct Entry {
        var code: UInt
        var reason: String
        var lib: Int32 { copenssl_err_lib(code) }
        var reasonCode: Int32 { copenssl_err_reason(code) }
    }

    static func clear() { ERR_clear_error() }

    /// Empties the queue and returns the first (oldest) error, which names the cause; the
    /// later ones are the call chain unwinding.
    static func drain() -> Entry? {
        var first: Entry?
        var guardCount = 0
        while guardCount < 64 {
            guardCount += 1
            let code = copenssl_err_get_error()
            if code == 0 { break }
            if first == nil { first = Entry(code: code, reason: reasonText(code)) }
        }
        ERR_clear_error()
        return first
    }

    /// The text of `code`: its reason string, or the whole formatted error when the reason has none.
    static func reasonText(_ code: UInt) -> String {
        if let r = ERR_reason_error_string(code) { return String(cString: r) }
        var buf = [CChar](repeating: 0, count: 256)
        buf.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first queued reason, or `fallback` when the queue is empty.
    static func message(_ fallback: String) -> String { drain()?.reason ?? fallback }
}

/// Reads a memory BIO to its end. Used for PEM and text output.
func drainMemoryBIO(_ bio: OpaquePointer) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    var rounds = 0
    while rounds < 1 << 16 {
        rounds += 1
        let n = chunk.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<Int(n)])
    }
    return out
}

/// Runs `body` with a fresh memory BIO and returns what it wrote there; nil if `body` fails.
func withMemoryBIO(_ body: (OpaquePointer) -> Bool) -> [UInt8]? {
    guard let bio = BIO_new(BIO_s_mem()) else { return nil }
    defer { BIO_free(bio) }
    guard body(bio) else { return nil }
    return drainMemoryBIO(bio)
}
