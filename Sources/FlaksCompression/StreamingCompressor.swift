import CBrotli
import CZlib
import CZstd

/// Why compression failed. Compressing valid bytes cannot fail except for memory, so in practice
/// these mean an allocation failed or the compressor was used after `finish`/`abort`.
public enum CompressionError: Error, Sendable, Hashable {
    /// The library could not set up a stream (out of memory or parameters out of range).
    case initializationFailed(ContentCoding)
    /// The library reported an error while compressing; the stream is released.
    case compressionFailed(ContentCoding, String)
    /// `write`, `flush` or `finish` after the stream was finished, aborted or failed.
    case finished
}

/// Compresses one response body as it streams: `write` bytes as they arrive, `flush` whenever the
/// producer pauses (so a streaming app still streams), `finish` at the end. One per response.
///
/// Output is appended to a caller's buffer (`write(_:into:)`) or returned (`write(_:)`). After
/// `flush()` the bytes produced so far decode to every byte written so far: gzip `Z_SYNC_FLUSH`
/// (an empty stored block ends on a byte boundary), Brotli `BROTLI_OPERATION_FLUSH`, zstd
/// `ZSTD_e_flush` (the current block is closed). A flush with nothing written since the last one
/// does nothing (zlib would emit another 5-byte empty block each time).
///
/// Memory: the C state (allocated by the libraries through a counting allocator, as they need it)
/// is bounded by the parameters, not by the body: with `CompressionParameters.streaming` at most
/// ~262 KiB for gzip, ~2.1 MiB for Brotli, ~1.6 MiB for zstd (`peakStateBytes`; the tests check
/// bounds over 4 MiB bodies). A known small length (`sizeHint`) shrinks gzip and zstd to tens of
/// KiB. It is released by `finish()`, `abort()`, the first error, or `deinit`, whichever comes first.
///
/// Not thread-safe and not `Sendable`: a stream belongs to the one connection (loop thread) or
/// worker that drives it.
public final class StreamingCompressor {
    public let coding: ContentCoding
    /// Bytes given to `write` so far.
    public private(set) var bytesIn = 0
    /// Bytes produced so far.
    public private(set) var bytesOut = 0

    private var engine: Engine
    private let counter = AllocationCounter()
    /// Bytes written since the last flush (0: a flush has nothing to do).
    private var sinceFlush = 0

    private enum Engine {
        case gzip(UnsafeMutablePointer<z_stream>)
        case brotli(OpaquePointer)
        case zstd(OpaquePointer)
        case released
    }

    private enum Operation { case process, flush, finish }

    /// A stream for `coding` with `parameters`.
    /// - Parameter sizeHint: the body's length when it is known (a Content-Length): windows and tables
    ///   are shrunk to fit it (nginx's gzip window/memLevel reduction; zstd's `srcSizeHint`), so a
    ///   2 KiB JSON answer takes ~21 KiB (gzip) or ~62 KiB (zstd) of state instead of 262 KiB / 1.6 MiB.
    ///   Brotli's quality-5 hasher is fixed-size (~520 KiB), so it gains nothing. Only a hint: a
    ///   longer body still compresses correctly.
    public convenience init(coding: ContentCoding, parameters: CompressionParameters = .streaming,
                            sizeHint: Int? = nil) throws(CompressionError) {
        try self.init(coding: coding, parameters: parameters, sizeHint: sizeHint, exactSize: false)
    }

    /// `exactSize`: `sizeHint` is the exact length (one-shot compression); zstd then records it in
    /// the frame header (the pledged size is a contract zstd checks).
    init(coding: ContentCoding, parameters p: CompressionParameters, sizeHint: Int?, exactSize: Bool) throws(CompressionError) {
        self.coding = coding
        engine = .released
        let hint = sizeHint.map { max(0, $0) }
        switch coding {
        case .gzip:
            var wbits = p.gzipWindowBits, memLevel = p.gzipMemoryLevel
            if let hint {
                // nginx ngx_http_gzip_filter_module: halve window and hash while the body fits in half.
                while wbits > 9 && hint < (1 << (wbits - 1)) { wbits -= 1; memLevel -= 1 }
                memLevel = max(1, memLevel)
            }
            let strm = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            strm.initialize(to: z_stream())
            strm.pointee.zalloc = { opaque, items, size in
                AllocationCounter.from(opaque)?.allocate(Int(items) * Int(size))
            }
            strm.pointee.zfree = { opaque, address in AllocationCounter.from(opaque)?.free(address) }
            strm.pointee.opaque = counter.opaque
            // +16: gzip wrapper (RFC 1952 header and CRC-32 trailer) instead of zlib's.
            guard czlib_deflate_init2(strm, p.gzipLevel, wbits + 16, memLevel, Z_DEFAULT_STRATEGY) == Z_OK else {
                strm.deinitialize(count: 1)
                strm.deallocate()
                throw .initializationFailed(coding)
            }
            engine = .gzip(strm)
        case .br:
            guard let s = BrotliEncoderCreateInstance(countingAlloc, countingFree, counter.opaque) else {
                throw .initializationFailed(coding)
            }
            engine = .brotli(s)
            var lgwin = p.brotliWindowBits
            if let hint {
                // A window larger than the body is never used.
                var needed: UInt32 = 10  // BROTLI_MIN_WINDOW_BITS
                while needed < lgwin && (1 << needed) < hint { needed += 1 }
                lgwin = min(lgwin, needed)
                _ = BrotliEncoderSetParameter(s, BROTLI_PARAM_SIZE_HINT, UInt32(min(hint, Int(UInt32.max))))
            }
            guard BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, p.brotliQuality) == BROTLI_TRUE,
                  BrotliEncoderSetParameter(s, BROTLI_PARAM_LGWIN, lgwin) == BROTLI_TRUE else {
                release()
                throw .initializationFailed(coding)
            }
        case .zstd:
            let mem = ZSTD_customMem(customAlloc: countingAlloc, customFree: countingFree, opaque: counter.opaque)
            guard let c = ZSTD_createCCtx_advanced(mem) else { throw .initializationFailed(coding) }
            engine = .zstd(c)
            var ok = ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, p.zstdLevel)) == 0
            if p.zstdWindowLog != 0 {
                ok = ok && ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, p.zstdWindowLog)) == 0
            }
            if let hint {
                if exactSize {
                    ok = ok && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, UInt64(hint))) == 0
                } else if hint > 0 {
                    ok = ok && ZSTD_isError(ZSTD_CCtx_setParameter(c, czstd_param_src_size_hint(),
                                                                    Int32(min(hint, Int(Int32.max))))) == 0
                }
            }
            guard ok else {
                release()
                throw .initializationFailed(coding)
            }
        }
    }

    deinit { release() }

    /// Whether the stream is over (finished, aborted or failed): the C state is gone.
    public var isFinished: Bool {
        if case .released = engine { return true }
        return false
    }

    /// Bytes the C state holds now (0 once released).
    public var stateBytes: Int { counter.current }
    /// The most the C state has held at once.
    public var peakStateBytes: Int { counter.peak }

    // MARK: - Streaming

    /// Compresses `input`, appending whatever the coder emits to `output` (possibly nothing yet:
    /// coders keep data back until a block is worth emitting; `flush` forces it out).
    public func write(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        guard !isFinished else { throw .finished }
        if input.isEmpty { return }
        bytesIn += input.count
        sinceFlush += input.count
        try run(input, .process, into: &output)
    }

    public func write(_ input: [UInt8], into output: inout [UInt8]) throws(CompressionError) {
        try withRawBuffer(input) { (b: UnsafeRawBufferPointer) throws(CompressionError) in try write(b, into: &output) }
    }

    /// Compresses `input` and returns what the coder emitted.
    public func write(_ input: [UInt8]) throws(CompressionError) -> [UInt8] {
        var out: [UInt8] = []
        try write(input, into: &out)
        return out
    }

    /// Emits everything written so far in a form the client can decode now.
    public func flush(into output: inout [UInt8]) throws(CompressionError) {
        guard !isFinished else { throw .finished }
        guard sinceFlush > 0 else { return }
        try run(UnsafeRawBufferPointer(start: nil, count: 0), .flush, into: &output)
        sinceFlush = 0
    }

    public func flush() throws(CompressionError) -> [UInt8] {
        var out: [UInt8] = []
        try flush(into: &out)
        return out
    }

    /// Ends the stream (trailer, checksum) and releases the C state.
    public func finish(into output: inout [UInt8]) throws(CompressionError) {
        guard !isFinished else { throw .finished }
        try run(UnsafeRawBufferPointer(start: nil, count: 0), .finish, into: &output)
        release()
    }

    public func finish() throws(CompressionError) -> [UInt8] {
        var out: [UInt8] = []
        try finish(into: &out)
        return out
    }

    /// Drops the stream without ending it (the client went away, the upstream failed): frees the C
    /// state now rather than when the object goes.
    public func abort() { release() }

    // MARK: - One-shot

    /// Compresses a whole body (a static file): one frame with the length recorded where the coding
    /// has a place for it (zstd).
    public static func compress(_ input: [UInt8], coding: ContentCoding,
                                parameters: CompressionParameters = .staticFile) throws(CompressionError) -> [UInt8] {
        let c = try StreamingCompressor(coding: coding, parameters: parameters, sizeHint: input.count, exactSize: true)
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 3 + 64)
        try c.write(input, into: &out)
        try c.finish(into: &out)
        return out
    }

    // MARK: - Engine

    private func release() {
        switch engine {
        case .gzip(let strm):
            deflateEnd(strm)
            strm.deinitialize(count: 1)
            strm.deallocate()
        case .brotli(let s):
            BrotliEncoderDestroyInstance(s)
        case .zstd(let c):
            ZSTD_freeCCtx(c)
        case .released:
            break
        }
        engine = .released
    }

    private func fail(_ message: String) -> CompressionError {
        release()
        return .compressionFailed(coding, message)
    }

    /// Drives the coder until `op` is complete for `input`, growing `output` a chunk at a time.
    private func run(_ input: UnsafeRawBufferPointer, _ op: Operation, into output: inout [UInt8]) throws(CompressionError) {
        var next = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var remaining = input.count
        // Room for this input, or for what the coder may still hold (a flush or finish emits it), if
        // it does not compress at all, in one round; at most 64 KiB a round.
        let expected = op == .process ? remaining : sinceFlush
        let room = min(max(expected + expected / 64 + 256, 4096), 64 * 1024)
        // Each library call either consumes input, produces output or completes the operation; a
        // few calls in a row that do none of that mean a library bug, not a reason to spin.
        var idleRounds = 0
        while true {
            let before = remaining
            let start = output.count
            output.append(contentsOf: repeatElement(0, count: room))
            var produced = 0
            var done = false
            var failure: CompressionError?
            output.withUnsafeMutableBufferPointer { buf in
                guard let base = buf.baseAddress else { return }
                let out = base + start
                do throws(CompressionError) {
                    (produced, done) = try step(&next, &remaining, out, room, op)
                } catch {
                    failure = error
                }
            }
            output.removeLast(room - produced)
            bytesOut += produced
            if let failure { throw failure }
            if done { return }
            if produced == 0 && remaining == before {
                idleRounds += 1
                if idleRounds > 4 { throw fail("no progress") }
            } else {
                idleRounds = 0
            }
        }
    }

    /// One call into the library: consumes from `next`/`remaining`, writes at most `room` bytes at
    /// `out`. Returns the bytes written and whether `op` is complete.
    private func step(_ next: inout UnsafePointer<UInt8>?, _ remaining: inout Int, _ out: UnsafeMutablePointer<UInt8>,
                      _ room: Int, _ op: Operation) throws(CompressionError) -> (Int, Bool) {
        switch engine {
        case .gzip(let strm):
            // zlib's counts are 32-bit: feed at most 1 GiB per call.
            let feed = min(remaining, 1 << 30)
            strm.pointee.next_in = UnsafeMutablePointer(mutating: next)
            strm.pointee.avail_in = UInt32(feed)
            strm.pointee.next_out = out
            strm.pointee.avail_out = UInt32(room)
            let flush: Int32 = switch op {
            case .process: Z_NO_FLUSH
            case .flush: Z_SYNC_FLUSH
            case .finish: Z_FINISH
            }
            let r = deflate(strm, flush)
            let consumed = feed - Int(strm.pointee.avail_in)
            next = next.map { $0 + consumed }
            remaining -= consumed
            let produced = room - Int(strm.pointee.avail_out)
            switch (r, op) {
            case (Z_STREAM_END, _):
                return (produced, true)
            case (Z_OK, .finish):
                return (produced, false)
            case (Z_OK, _), (Z_BUF_ERROR, .process), (Z_BUF_ERROR, .flush):
                // Z_BUF_ERROR: no progress was possible, i.e. nothing is left to do for this call.
                // Otherwise deflate stops when input is used up or output space is: more space, again.
                return (produced, remaining == 0 && (r == Z_BUF_ERROR || strm.pointee.avail_out > 0))
            default:
                throw fail("deflate returned \(r)")
            }
        case .brotli(let s):
            var availIn = remaining
            var nextIn = next
            var availOut = room
            var nextOut: UnsafeMutablePointer<UInt8>? = out
            let operation = switch op {
            case .process: BROTLI_OPERATION_PROCESS
            case .flush: BROTLI_OPERATION_FLUSH
            case .finish: BROTLI_OPERATION_FINISH
            }
            guard BrotliEncoderCompressStream(s, operation, &availIn, &nextIn, &availOut, &nextOut, nil) == BROTLI_TRUE else {
                throw fail("BrotliEncoderCompressStream failed")
            }
            next = nextIn
            remaining = availIn
            let produced = room - availOut
            switch op {
            case .process, .flush:
                return (produced, remaining == 0 && BrotliEncoderHasMoreOutput(s) == BROTLI_FALSE)
            case .finish:
                return (produced, BrotliEncoderIsFinished(s) == BROTLI_TRUE)
            }
        case .zstd(let c):
            var inBuf = ZSTD_inBuffer(src: next.map { UnsafeRawPointer($0) }, size: remaining, pos: 0)
            var outBuf = ZSTD_outBuffer(dst: UnsafeMutableRawPointer(out), size: room, pos: 0)
            let directive = switch op {
            case .process: ZSTD_e_continue
            case .flush: ZSTD_e_flush
            case .finish: ZSTD_e_end
            }
            let r = ZSTD_compressStream2(c, &outBuf, &inBuf, directive)
            if ZSTD_isError(r) != 0 {
                throw fail(String(cString: ZSTD_getErrorName(r)))
            }
            next = next.map { $0 + inBuf.pos }
            remaining -= inBuf.pos
            switch op {
            case .process: return (outBuf.pos, remaining == 0)
            case .flush, .finish: return (outBuf.pos, r == 0)  // r: bytes still to flush
            }
        case .released:
            throw .finished
        }
    }
}

/// `withUnsafeBytes` with a typed-throws body.
@inline(__always)
func withRawBuffer(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> Void) throws(CompressionError) {
    var failure: CompressionError?
    bytes.withUnsafeBytes { b in
        do throws(CompressionError) { try body(b) } catch { failure = error }
    }
    if let failure { throw failure }
}
