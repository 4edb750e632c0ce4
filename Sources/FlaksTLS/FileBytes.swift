#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a small file whole (certificates and keys), without Foundation. Refuses files over
/// `limit` bytes so that a path pointing at a device or a log cannot stall a reload.
func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(CertificateError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
        guard out.count <= limit else { throw .unreadable(path: path, reason: "larger than \(limit) bytes") }
    }
}
