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
///
/// The bytes live in a buffer of the writer's own, written through a pointer (an array's append,
/// or its uniqueness check per pair, cost ~150 instructions a pair). A copy of a writer shares the
/// buffer: write with one value only (the handler makes it, the executor reads it, on one loop).
public struct FastCGIParamsWriter: @unchecked Sendable {   // see above: one writer, then readers
    public let requestID: UInt16
    private let buffer: Buffer
    /// `buffer[0..<used]`: the closed records so far and the open one (its header not yet filled in).
    private var used = 0
    /// The first pair that did not fit; nothing is added after it.
    public private(set) var error: FastCGIEncodingError?
    private var headerAt = -1
    private var length = 0

    /// Zero-filled storage that grows by doubling (padding bytes are the zeros left in place).
    final class Buffer {
        var base: UnsafeMutablePointer<UInt8>
        var capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            base = .allocate(capacity: capacity)
            base.initialize(repeating: 0, count: capacity)
        }
        func grow(toAtLeast needed: Int) {
            let n = max(needed, capacity * 2)
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
            b.initialize(from: base, count: capacity)
            (b + capacity).initialize(repeating: 0, count: n - capacity)
            base.deallocate()
            base = b
            capacity = n
        }
        deinit { base.deallocate() }
    }

    public init(requestID: UInt16, capacity: Int = 1024) {
        self.requestID = requestID
        buffer = Buffer(capacity: max(capacity, 64))
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
        guard error == nil, !name.isEmpty else { return }
        var value = value
        value.withUTF8 { add(name: name, value: $0) }
    }

    private mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        let nameLength = name.count, valueLength = value.count
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
        if needed > buffer.capacity { buffer.grow(toAtLeast: needed) }
        var p = buffer.base + used
        p += Self.writeLength(nameLength, p)
        p += Self.writeLength(valueLength, p)
        if let b = name.baseAddress { p.update(from: b, count: nameLength) }
        p += nameLength
        if let b = value.baseAddress { p.update(from: b, count: valueLength) }
        used += n
        length += n
    }

    /// Closes the open record, if any: fills in its header and counts its padding (zeros already).
    public mutating func closeRecord() {
        guard headerAt >= 0 else { return }
        let padding = FastCGI.padding(forContentLength: length)
        if used + padding > buffer.capacity { buffer.grow(toAtLeast: used + padding) }
        Self.writeHeader(buffer.base + headerAt, requestID: requestID, length: length, padding: padding)
        used += padding
        headerAt = -1
        length = 0
    }

    /// Calls `body` with the records of the pairs, all closed (without the empty record that ends
    /// the stream).
    public mutating func withRecords<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) throws(FastCGIEncodingError) -> T {
        if let error { throw error }
        closeRecord()
        return body(UnsafeBufferPointer(start: buffer.base, count: used))
    }

    /// The records of the pairs, all closed, as an array.
    public mutating func records() throws(FastCGIEncodingError) -> [UInt8] {
        try withRecords { Array($0) }
    }

    /// The pairs written, decoded back from the records (tests and logs). Reads only.
    public var pairs: [FastCGIPair] {
        var out: [FastCGIPair] = []
        var at = 0
        while at + FastCGI.headerLength <= used {
            let start = at + FastCGI.headerLength
            let content: Int, padding: Int
            if at == headerAt {
                content = length       // the open record
                padding = 0
            } else {
                content = Int(buffer.base[at + 4]) << 8 | Int(buffer.base[at + 5])
                padding = Int(buffer.base[at + 6])
            }
            guard start + content <= used else { break }
            let decoded = (try? FastCGIParam.decodePairs(UnsafeRawBufferPointer(start: buffer.base + start, count: content))) ?? []
            for d in decoded {
                out.append(FastCGIPair(String(decoding: d.name, as: UTF8.self), String(decoding: d.value, as: UTF8.self)))
            }
            at = start + content + padding
        }
        return out
    }

    /// A PARAMS record header at `h`.
    static func writeHeader(_ h: UnsafeMutablePointer<UInt8>, requestID: UInt16, length: Int, padding: Int) {
        h[0] = FastCGI.version
        h[1] = FastCGI.RecordType.params.rawValue
        h[2] = UInt8(truncatingIfNeeded: requestID >> 8)
        h[3] = UInt8(truncatingIfNeeded: requestID)
        h[4] = UInt8(truncatingIfNeeded: length >> 8)
        h[5] = UInt8(truncatingIfNeeded: length)
        h[6] = UInt8(truncatingIfNeeded: padding)
        h[7] = 0
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
