#if canImport(Glibc)
import Glibc
#endif

/// Reads a child's output pipe on its loop and hands the bytes on, with back-pressure: while
/// `paused`, nothing is read, so the pipe fills and the child blocks. Loop thread only.
final class PipeReader: Selectable {
    private(set) var fd: Int32
    private unowned let loop: EventLoop
    private let buffer: UnsafeMutableRawBufferPointer
    private var onBytes: ((UnsafeRawBufferPointer) -> Void)?
    private var onEnd: (() -> Void)?
    /// Set by the owner: stop reading until set back and `readAvailable` is called.
    var paused = false
    /// Runs when the pipe is empty for now (the child has nothing more ready): a compressor flushes.
    var onDrained: (() -> Void)?
    /// Inside `readAvailable` (the owner may ask to read again from within `onBytes`).
    private var reading = false

    /// Registers `fd` (non-blocking). `onEnd` runs once, at the end of the pipe or a read error.
    init(fd: Int32, loop: EventLoop, bufferSize: Int = 32 * 1024,
         onBytes: @escaping (UnsafeRawBufferPointer) -> Void, onEnd: @escaping () -> Void) throws(SystemError) {
        self.fd = fd; self.loop = loop; self.onBytes = onBytes; self.onEnd = onEnd
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
        do { try loop.register(fd: fd, interest: [.readable, .edgeTriggered], target: self) } catch {
            buffer.deallocate()
            throw error
        }
    }

    deinit {
        buffer.deallocate()
        if fd >= 0 { Glibc.close(fd) }
    }

    func ready(_ events: SelectorEvents) { readAvailable() }

    /// Reads until the pipe is empty, ends, or the owner pauses.
    func readAvailable() {
        guard !reading else { return }
        reading = true
        defer { reading = false }
        withExtendedLifetime(self) {
            while fd >= 0 && !paused {
                let fd = self.fd, buffer = self.buffer
                let r: IOResult<Int>
                do { r = try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) } } catch {
                    r = .done(0)                                 // EIO and the like: treat as the end
                }
                switch r {
                case .wouldBlock:
                    onDrained?()
                    return                                       // edge-triggered: the next edge resumes us
                case .done(0):
                    close()
                    onEnd?()
                    return
                case .done(let n):
                    onBytes?(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
            }
        }
    }

    /// The loop stopped while the child still had this pipe open: the callbacks (which hold the
    /// owner, which holds this pipe) are dropped and the pipe closed.
    func loopStopped() {
        onBytes = nil
        onEnd = nil
        onDrained = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Stops reading and closes the pipe (without `onEnd`).
    func close() {
        guard fd >= 0 else { return }
        loop.deregister(fd: fd)
        Glibc.close(fd)
        fd = -1
    }
}
