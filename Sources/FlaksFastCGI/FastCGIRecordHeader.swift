/// The 8-byte header that starts every record (spec §3.3):
/// version, type, requestIdB1, requestIdB0, contentLengthB1, contentLengthB0, paddingLength, reserved.
///
/// `type` is kept as the raw byte: a decoder must be able to report a type it does not know.
public struct FastCGIRecordHeader: Sendable, Equatable {
    public var version: UInt8
    public var type: UInt8
    public var requestID: UInt16
    /// Content bytes that follow the header, 0...65535.
    public var contentLength: Int
    /// Bytes after the content that the receiver skips, 0...255.
    public var paddingLength: Int

    public init(version: UInt8 = FastCGI.version, type: UInt8, requestID: UInt16, contentLength: Int, paddingLength: Int) {
        self.version = version
        self.type = type
        self.requestID = requestID
        self.contentLength = contentLength
        self.paddingLength = paddingLength
    }

    /// Reads a header from the first 8 bytes of `bytes`; nil when fewer than 8 are there.
    /// No validation: the decoder decides what is acceptable.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= FastCGI.headerLength else { return nil }
        version = bytes[0]
        type = bytes[1]
        requestID = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        contentLength = Int(bytes[4]) << 8 | Int(bytes[5])
        paddingLength = Int(bytes[6])
    }

    /// The record type, when it is one the spec defines.
    public var recordType: FastCGI.RecordType? { FastCGI.RecordType(rawValue: type) }

    /// Header, content and padding together.
    public var recordLength: Int { FastCGI.headerLength + contentLength + paddingLength }

    /// Appends the 8 header bytes (reserved byte 0).
    /// - Precondition: `contentLength` is 0...65535 and `paddingLength` 0...255 (programmer error otherwise).
    public func append(to out: inout [UInt8]) {
        precondition((0...FastCGI.maxContentLength).contains(contentLength), "FastCGI contentLength out of range")
        precondition((0...255).contains(paddingLength), "FastCGI paddingLength out of range")
        out.append(version)
        out.append(type)
        out.append(UInt8(truncatingIfNeeded: requestID >> 8))
        out.append(UInt8(truncatingIfNeeded: requestID))
        out.append(UInt8(truncatingIfNeeded: contentLength >> 8))
        out.append(UInt8(truncatingIfNeeded: contentLength))
        out.append(UInt8(truncatingIfNeeded: paddingLength))
        out.append(0)
    }
}
