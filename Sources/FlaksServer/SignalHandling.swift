#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// Process signals, received through a signalfd on the calling thread; no work runs in a C handler.
public enum SignalHandling {
    static let handled: [Int32] = [SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1]

    /// Blocks the server's signals in the calling thread. Call before starting any thread,
    /// so every thread inherits the mask and only the signalfd sees them.
    public static func blockServerSignals() {
        _ = handled.withUnsafeBufferPointer { cflaks_block_signals($0.baseAddress, Int32($0.count)) }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Serves signals until a stop signal: SIGHUP reloads the manifest, SIGUSR1 reopens logs,
    /// SIGTERM/SIGINT/SIGQUIT drain and return. `onReload` sees each reload's outcome.
    public static func run(_ server: Server, onReload: (Server.ReloadOutcome) -> Void = { _ in }) {
        let fd = handled.withUnsafeBufferPointer { cflaks_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else {
            server.logger.error("signalfd failed (errno \(cflaks_errno())); signals will not be handled")
            server.wait()
            return
        }
        defer { close(fd) }
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, -1)
            if r < 0 && errno != EINTR { break }
            while true {
                let sig = cflaks_signalfd_read(fd)
                if sig <= 0 { break }
                switch sig {
                case SIGHUP:
                    server.logger.info("SIGHUP: reloading the manifest")
                    onReload(server.reloadFromDisk())
                case SIGUSR1:
                    server.logger.info("SIGUSR1: reopening logs")
                    server.reopenLogs()
                default:
                    server.logger.info("signal \(sig): shutting down")
                    server.shutdown()
                    server.wait()
                    return
                }
            }
        }
        server.wait()
    }
}
