import CBrotli
import CZlib
import CZstd
import FlaksCompression

/// The real decoders, driven as a client would drive them: bytes in as they arrive, every byte
/// they can produce out at once.
public struct DecodeError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public protocol Decoder: AnyObject {
    /// Decodes `input`, returning every byte it makes available.
    func feed(_ input: [UInt8]) throws -> [UInt8]
    /// Whether the end of the stream (trailer / last block / frame end) has been seen.
    var ended: Bool { get }
}

public func makeDecoder(_ coding: ContentCoding) throws -> any Decoder {
    switch coding {
    case .gzip: try GzipDecoder()
    case .br: try BrotliStreamDecoder()
    case .zstd: try ZstdStreamDecoder()
    }
}

/// Decodes a whole stream and checks that it ended and nothing followed it.
public func decodeAll(_ coding: ContentCoding, _ bytes: [UInt8]) throws -> [UInt8] {
    let d = try makeDecoder(coding)
    let out = try d.feed(bytes)
    guard d.ended else { throw DecodeError(description: "\(coding): stream not ended") }
    return out
}

public final class GzipDecoder: Decoder {
    private let strm: UnsafeMutablePointer<z_stream>
    public private(set) var ended = false

    public init() throws {
        strm = .allocate(capacity: 1)
        strm.initialize(to: z_stream())
        // 15 + 16: gzip wrapper only (not zlib), any window up to 32 KiB.
        guard czlib_inflate_init2(strm, 15 + 16) == Z_OK else { throw DecodeError(description: "inflateInit2") }
    }
    deinit {
        inflateEnd(strm)
        strm.deinitialize(count: 1)
        strm.deallocate()
    }

    public func feed(_ input: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var input = input
        try input.withUnsafeMutableBufferPointer { inBuf in
            strm.pointee.next_in = inBuf.baseAddress
            strm.pointee.avail_in = UInt32(inBuf.count)
            var rounds = 0
            while true {
                rounds += 1
                if rounds > 100_000 { throw DecodeError(description: "inflate does not progress") }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let (r, produced) = chunk.withUnsafeMutableBufferPointer { o -> (Int32, Int) in
                    strm.pointee.next_out = o.baseAddress
                    strm.pointee.avail_out = UInt32(o.count)
                    let r = inflate(strm, Z_NO_FLUSH)
                    return (r, o.count - Int(strm.pointee.avail_out))
                }
                out += chunk[0..<produced]
                switch r {
                case Z_STREAM_END:
                    ended = true
                    if strm.pointee.avail_in != 0 { throw DecodeError(description: "bytes after the gzip trailer") }
                    return
                case Z_OK:
                    if strm.pointee.avail_in == 0 && produced < 65536 { return }
                case Z_BUF_ERROR:
                    return
                default:
                    throw DecodeError(description: "inflate returned \(r)")
                }
            }
        }
        return out
    }
}

public final class BrotliStreamDecoder: Decoder {
    private let state: OpaquePointer
    public private(set) var ended = false

    public init() throws {
        guard let s = BrotliDecoderCreateInstance(nil, nil, nil) else { throw DecodeError(description: "BrotliDecoderCreateInstance") }
        state = s
    }
    deinit { BrotliDecoderDestroyInstance(state) }

    public func feed(_ input: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try input.withUnsafeBufferPointer { inBuf in
            var availIn = inBuf.count
            var nextIn = inBuf.baseAddress
            var rounds = 0
            while true {
                rounds += 1
                if rounds > 100_000 { throw DecodeError(description: "brotli does not progress") }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let (r, produced) = chunk.withUnsafeMutableBufferPointer { o -> (BrotliDecoderResult, Int) in
                    var availOut = o.count
                    var nextOut = o.baseAddress
                    let r = BrotliDecoderDecompressStream(state, &availIn, &nextIn, &availOut, &nextOut, nil)
                    return (r, o.count - availOut)
                }
                out += chunk[0..<produced]
                switch r {
                case BROTLI_DECODER_RESULT_SUCCESS:
                    ended = true
                    if availIn != 0 { throw DecodeError(description: "bytes after the brotli stream") }
                    return
                case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
                    // It pushes out what it holds when it runs out of input, but only as much as fits:
                    // a full chunk means there may be more.
                    if produced < 65536 { return }
                case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
                    continue
                default:
                    let code = BrotliDecoderGetErrorCode(state)
                    throw DecodeError(description: "brotli: \(String(cString: BrotliDecoderErrorString(code)))")
                }
            }
        }
        return out
    }
}

public final class ZstdStreamDecoder: Decoder {
    private let dctx: OpaquePointer
    public private(set) var ended = false

    public init() throws {
        guard let d = ZSTD_createDCtx() else { throw DecodeError(description: "ZSTD_createDCtx") }
        dctx = d
        // What browsers accept for Content-Encoding: zstd (RFC 9659 §4): windows up to 8 MiB.
        _ = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 23)
    }
    deinit { ZSTD_freeDCtx(dctx) }

    public func feed(_ input: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try input.withUnsafeBytes { inRaw in
            var inBuf = ZSTD_inBuffer(src: inRaw.baseAddress, size: inRaw.count, pos: 0)
            var rounds = 0
            while true {
                rounds += 1
                if rounds > 100_000 { throw DecodeError(description: "zstd does not progress") }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let (r, produced) = chunk.withUnsafeMutableBytes { o -> (Int, Int) in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                    let r = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                    return (r, outBuf.pos)
                }
                if ZSTD_isError(r) != 0 { throw DecodeError(description: "zstd: \(String(cString: ZSTD_getErrorName(r)))") }
                out += chunk[0..<produced]
                if r == 0 {
                    ended = true
                    if inBuf.pos != inBuf.size { throw DecodeError(description: "bytes after the zstd frame") }
                    return
                }
                if inBuf.pos == inBuf.size && produced < 65536 { return }
            }
        }
        return out
    }
}

/// `ZSTD_decompress` of a whole frame whose content size is in its header (one-shot output).
public func zstdDecompressWhole(_ frame: [UInt8]) throws -> [UInt8] {
    let size = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
    guard size != ZSTD_CONTENTSIZE_UNKNOWN, size != ZSTD_CONTENTSIZE_ERROR else {
        throw DecodeError(description: "no content size in the frame")
    }
    var out = [UInt8](repeating: 0, count: Int(size))
    let r = out.withUnsafeMutableBytes { o in
        frame.withUnsafeBytes { i in ZSTD_decompress(o.baseAddress, o.count, i.baseAddress, i.count) }
    }
    if ZSTD_isError(r) != 0 { throw DecodeError(description: String(cString: ZSTD_getErrorName(r))) }
    guard r == Int(size) else { throw DecodeError(description: "short output") }
    return out
}

/// `BrotliDecoderDecompress` one-shot with an output buffer of the expected size.
public func brotliDecompressWhole(_ encoded: [UInt8], expectedSize: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: max(expectedSize, 1))
    var outSize = out.count
    let r = out.withUnsafeMutableBufferPointer { o in
        encoded.withUnsafeBufferPointer { i in BrotliDecoderDecompress(i.count, i.baseAddress, &outSize, o.baseAddress) }
    }
    guard r == BROTLI_DECODER_RESULT_SUCCESS else { throw DecodeError(description: "BrotliDecoderDecompress failed") }
    return Array(out[0..<outSize])
}

/// zlib's `uncompress`-style inflate of a whole gzip member.
public func gunzipWhole(_ encoded: [UInt8]) throws -> [UInt8] {
    try decodeAll(.gzip, encoded)
}
