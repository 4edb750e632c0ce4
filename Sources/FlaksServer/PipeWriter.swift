#if canImport(Glibc)
import Glibc
#endif

/// Writes a buffer into a child's input pipe on its loop as the pipe takes it, then closes the pipe
/// (the child sees end of input). A child that does not read its input makes the write fail with
/// EPIPE, which just ends the writing. Loop thread only.
final class PipeWriter: Selectable {
    private var fd: Int32
    private unowned let loop: EventLoop
    private var bytes: [UInt8]
    private var offset = 0

    /// Registers `fd` (non-blocking) and writes what the pipe takes now.
    init(fd: Int32, loop: EventLoop, bytes: [UInt8]) throws(SystemError) {
        self.fd = fd; self.loop = loop; self.bytes = bytes
        try loop.register(fd: fd, interest: [.writable, .edgeTriggered], target: self)
        write()
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func ready(_ events: SelectorEvents) { write() }

    private func write() {
        while fd >= 0 && offset < bytes.count {
            let fd = self.fd, offset = self.offset
            let r: IOResult<Int>
            do {
                r = try bytes.withUnsafeBytes { p in try syscall("write") { Glibc.write(fd, p.baseAddress! + offset, p.count - offset) } }
            } catch {
                break
            }
            guard case .done(let n) = r else { return }     // pipe full: wait for the writable edge
            self.offset += n
        }
        close()
    }

    /// Stops writing and closes the pipe.
    func close() {
        guard fd >= 0 else { return }
        loop.deregister(fd: fd)
        Glibc.close(fd)
        fd = -1
        bytes = []
    }
}
