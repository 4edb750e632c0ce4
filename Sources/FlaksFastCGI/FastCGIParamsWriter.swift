/// The PARAMS stream of one request (spec §5.2), written as the pairs come: each pair goes straight
/// into the current record, which closes (header filled in, padding added) when the next pair would
/// not fit. php-fpm decodes each PARAMS record on its own, so a pair never straddles two records;
/// a pair that cannot fit in any record (`FastCGI.maxParamsContentLength`) is the stream's `error`,
/// and the pairs after it are ignored. An empty name is skipped.
///
/// It is what the FastCGI handler builds the request's variables into (`CGIEnvironment` through
/// `CGIVariableSink`), so a PHP request makes no array of pairs and copies each name and value once
/// (the pairs array and its encoding were ~20,000 of a PHP request's instructions). The bytes are
/// exactly those of `FastCGIEncoder.appendParams` for the same pairs, which is built on it.
public struct FastCGIParamsWriter: Sendable {
    public let requestID: UInt16
    /// `storage[0..<used]`: the closed records so far and the open one (its header still zero).
    /// The storage is zero-filled ahead of `used` in steps, so a pair is written through one pointer
    /// (appending each piece cost ~350 instructions a pair).
    private var storage: [UInt8] = []
    private var used = 0
    /// The first pair that did not fit; nothing is added after it.
    public private(set) var error: FastCGIEncodingError?
    private var headerAt = -1
    private var length = 0

    public init(requestID: UInt16, capacity: Int = 1024) {
        self.requestID = requestID
        storage = [UInt8](repeating: 0, count: max(capacity, 64))
    }

    /// Adds `name`=`value` (UTF-8).
    public mutating func add(_ name: String, _ value: String) {
        var name = name
        name.withUTF8 { add(name: $0, value) }
    }

    /// `add` for a name known when compiling (the meta-variables): its bytes are read in place.
    public mutating func add(static name: StaticString, _ value: String) {
        guard name.hasPointerRepresentation else { add(name.description, value); return }
        add(name: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value)
    }

    private mutating func add(name: UnsafeBufferPointer<UInt8>, _ value: String) {
        guard error == nil else { return }
        var value = value
        let nameLength = name.count, valueLength = value.utf8.count
        guard nameLength > 0 else { return }
        let n = FastCGIParam.lengthFieldSize(nameLength) + FastCGIParam.lengthFieldSize(valueLength) + nameLength + valueLength
        guard n <= FastCGI.maxParamsContentLength else {
            error = .paramTooLong(name: String(decoding: name, as: UTF8.self), encodedLength: n)
            return
        }
        if headerAt >= 0 && length + n > FastCGI.maxParamsContentLength { closeRecord() }
        if headerAt < 0 {
            headerAt = used
            used += FastCGI.headerLength
            length = 0
        }
        // Room for the pair, a record's padding and the next header.
        let needed = used + n + 2 * FastCGI.headerLength
        if needed > storage.count {
            storage.append(contentsOf: repeatElement(0, count: max(needed - storage.count, storage.count)))
        }
        let at = used
        storage.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var p = base + at
            p += Self.writeLength(nameLength, p)
            p += Self.writeLength(valueLength, p)
            if let b = name.baseAddress { p.update(from: b, count: nameLength) }
            p += nameLength
            value.withUTF8 { u in if let b = u.baseAddress { p.update(from: b, count: valueLength) } }
        }
        used += n
        length += n
    }

    /// Closes the open record, if any: fills in its header and counts its padding (zeros already).
    public mutating func closeRecord() {
        guard headerAt >= 0 else { return }
        let padding = FastCGI.padding(forContentLength: length)
        if used + padding > storage.count { storage.append(contentsOf: repeatElement(0, count: used + padding - storage.count)) }
        let h = headerAt
        storage[h] = FastCGI.version
        storage[h + 1] = FastCGI.RecordType.params.rawValue
        storage[h + 2] = UInt8(truncatingIfNeeded: requestID >> 8)
        storage[h + 3] = UInt8(truncatingIfNeeded: requestID)
        storage[h + 4] = UInt8(truncatingIfNeeded: length >> 8)
        storage[h + 5] = UInt8(truncatingIfNeeded: length)
        storage[h + 6] = UInt8(truncatingIfNeeded: padding)
        used += padding
        headerAt = -1
        length = 0
    }

    /// The records of the pairs, all closed (without the empty record that ends the stream).
    public mutating func records() throws(FastCGIEncodingError) -> ArraySlice<UInt8> {
        if let error { throw error }
        closeRecord()
        return storage[0..<used]
    }

    /// The pairs written, decoded back from the records (tests and logs).
    public var pairs: [FastCGIPair] {
        var copy = self
        copy.closeRecord()
        var out: [FastCGIPair] = []
        var at = 0
        let b = Array(copy.storage[0..<copy.used])
        while at + FastCGI.headerLength <= b.count {
            let content = Int(b[at + 4]) << 8 | Int(b[at + 5])
            let padding = Int(b[at + 6])
            let start = at + FastCGI.headerLength
            guard start + content <= b.count else { break }
            let decoded = b[start..<(start + content)].withUnsafeBytes { p in try? FastCGIParam.decodePairs(p) } ?? []
            for d in decoded {
                out.append(FastCGIPair(String(decoding: d.name, as: UTF8.self), String(decoding: d.value, as: UTF8.self)))
            }
            at = start + content + padding
        }
        return out
    }

    /// A name-value length (spec §3.4) at `p`; returns its size.
    static func writeLength(_ n: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        if n < 128 {
            p[0] = UInt8(n)
            return 1
        }
        p[0] = UInt8(truncatingIfNeeded: n >> 24) | 0x80
        p[1] = UInt8(truncatingIfNeeded: n >> 16)
        p[2] = UInt8(truncatingIfNeeded: n >> 8)
        p[3] = UInt8(truncatingIfNeeded: n)
        return 4
    }
}
