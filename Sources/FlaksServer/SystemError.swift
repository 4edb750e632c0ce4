#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// A failed system call: its name and errno.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public init(_ call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The result of a non-blocking call: a value, or "try again when ready".
enum IOResult<T> {
    case done(T)
    case wouldBlock
}

/// Every syscall goes through here: retries EINTR, maps EAGAIN to `.wouldBlock`,
/// traps on errnos that mean a bug (EBADF, EFAULT), throws `SystemError` otherwise.
@inline(__always)
func syscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let r = body()
        if r >= 0 { return .done(r) }
        let e = Glibc.errno
        switch e {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(name) failed with \(e): programmer error (bad fd or address)")
        default:
            throw SystemError("\(name)", errno: e)
        }
    }
}

/// Like `syscall` but for calls that cannot return EAGAIN: returns the value.
@inline(__always)
func syscallBlocking<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> T {
    switch try syscall(name, body) {
    case .done(let v): return v
    case .wouldBlock: throw SystemError("\(name)", errno: EAGAIN)
    }
}
