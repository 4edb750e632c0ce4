#if canImport(Glibc)
import Glibc
#endif

/// A CGI script's environment as the kernel takes it: one buffer of `NAME=value\0` entries, made
/// as the variables are written (a `CGIVariableSink`) and handed to `execve` as pointers into the
/// buffer. One allocation for the whole environment, where a dictionary sorted into "NAME=value"
/// strings, each copied again as a C string for the spawn, took about 85,000 instructions per
/// request (`CGI=1 bench/instructions.sh`: 213,826 per CGI request before this, see
/// docs/performance.md).
///
/// An entry never holds a NUL of its own: a value is cut at its first NUL, as the C string of the
/// old "NAME=value" was, so no value can add an entry.
public struct CGIEnvironmentBlock: Sendable, CGIVariableSink {
    /// The entries, each ending in NUL.
    public private(set) var bytes: [UInt8] = []
    /// How many entries there are.
    public private(set) var count = 0

    /// An empty environment with room for `capacity` bytes.
    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// An environment of `NAME=value` strings (a string is cut at its first NUL).
    public init(_ entries: [String]) {
        self.init(capacity: entries.reduce(0) { $0 + $1.utf8.count + 1 })
        for e in entries {
            var e = e
            e.withUTF8 { append($0) }
            bytes.append(0)
            count += 1
        }
    }

    public mutating func add(_ name: String, _ value: String) {
        var name = name
        name.withUTF8 { add(name: $0, value) }
    }

    public mutating func add(static name: StaticString, _ value: String) {
        add(name: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value)
    }

    private mutating func add(name: UnsafeBufferPointer<UInt8>, _ value: String) {
        append(name)
        bytes.append(UInt8(ascii: "="))
        var value = value
        value.withUTF8 { append($0) }
        bytes.append(0)
        count += 1
    }

    /// Appends `part` up to its first NUL.
    private mutating func append(_ part: UnsafeBufferPointer<UInt8>) {
        guard let base = part.baseAddress, !part.isEmpty else { return }
        let end = memchr(base, 0, part.count).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? part.count
        bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: end))
    }

    /// Whether some entry is named `name`.
    public func contains(name: String) -> Bool {
        var name = name
        return name.withUTF8 { n in
            bytes.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress, let wanted = n.baseAddress else { return false }
                var start = 0
                while start < b.count {
                    var end = start
                    while b[end] != 0 { end += 1 }   // every entry ends in NUL
                    if end - start > n.count, b[start + n.count] == UInt8(ascii: "="),
                       memcmp(base + start, wanted, n.count) == 0 {
                        return true
                    }
                    start = end + 1
                }
                return false
            }
        }
    }

    /// The entries as "NAME=value" strings, in the order written.
    public var entries: [String] {
        bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// Runs `body` with a NULL-terminated array of pointers to the entries (`envp` for execve),
    /// valid only during the call.
    public func withEntryPointers<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        bytes.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { chars in
                withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CChar>?.self, capacity: count + 1) { pointers in
                    var n = 0, start = 0
                    if let base = chars.baseAddress {
                        // Each entry ends in NUL (memchr: a byte loop here was ~8,000 instructions).
                        while n < count, start < chars.count, let nul = memchr(base + start, 0, chars.count - start) {
                            pointers[n] = UnsafeMutablePointer(mutating: base + start)
                            n += 1
                            start = UnsafeRawPointer(nul) - UnsafeRawPointer(base) + 1
                        }
                    }
                    pointers[n] = nil
                    // count + 1 >= 1 pointers: the allocation has an address.
                    return body(UnsafePointer(pointers.baseAddress!))
                }
            }
        }
    }
}
