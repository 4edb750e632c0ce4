extension String {
    /// The String of `bytes`: UTF-8, with invalid sequences repaired to U+FFFD, the same String
    /// `String(decoding:as:)` makes. Up to 15 bytes of ASCII (a request target, a Host value, a
    /// path's rest: most of what a request's head turns into Strings) go straight into a small
    /// string, whose ASCII check reads a word at a time; `String(decoding:as:)` validates byte by
    /// byte first, then builds the string: ~300 instructions for ten bytes, three times per
    /// request to a view (measured with callgrind, `bench/instructions.sh`).
    @inlinable
    public init(utf8Bytes bytes: UnsafeRawBufferPointer) {
        if bytes.count <= 15 {
            self = String(unsafeUninitializedCapacity: bytes.count) { dst in
                if let base = bytes.baseAddress, let to = dst.baseAddress {
                    UnsafeMutableRawPointer(to).copyMemory(from: base, byteCount: bytes.count)
                }
                return bytes.count
            }
        } else {
            self = String(decoding: bytes, as: UTF8.self)
        }
    }
}
