#if canImport(Glibc)
import Glibc
#endif
import FlaksHandlers

/// The bytes a handler's response body would put on the wire (files read with pread).
/// A streamed body has none up front: it yields nil.
public func bodyBytes(_ r: Response) -> [UInt8]? {
    switch r.body {
    case .empty: return []
    case .bytes(let b): return b
    case .file(let f): return fileBytes(f)
    case .parts(let ps):
        return ps.flatMap { p -> [UInt8] in
            switch p {
            case .bytes(let b): return b
            case .file(let f): return fileBytes(f)
            }
        }
    case .stream: return nil
    }
}

/// The bytes of a file region.
public func fileBytes(_ f: FileRegion) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: f.length)
    let n = out.withUnsafeMutableBytes { pread(f.file.fd, $0.baseAddress, f.length, off_t(f.offset)) }
    return Array(out.prefix(max(n, 0)))
}
