/// `server.idle_release`: once no request has finished for that long (and some did since the last
/// time), gives back the code pages and freed heap the server is not using
/// (`Server.releaseLoadingMemory`). Ticked from the control thread about once a second; it reads
/// the loops' request counters, so it costs the requests nothing.
struct IdleMemoryRelease {
    private var lastCount = -1
    private var lastChange: UInt64 = 0
    /// `flaks serve` released once at start, before any request.
    private var releasedAtCount = 0

    /// How long the control thread may sleep before the next tick, in ms (-1: no ticks needed).
    func pollTimeout(_ server: Server) -> Int32 {
        server.currentSite.config.server.idleRelease > .zero ? 1000 : -1
    }

    mutating func tick(_ server: Server, now: UInt64 = monotonicNanos()) {
        let period = server.currentSite.config.server.idleRelease
        guard period > .zero else { return }
        let count = server.finishedRequests
        if count != lastCount {
            lastCount = count
            lastChange = now
            return
        }
        guard count != releasedAtCount, now &- lastChange >= period.nanoseconds else { return }
        releasedAtCount = count
        server.dropPreparedResponses()
        let r = Server.releaseLoadingMemory()
        server.logger.info("idle for \(period): gave back unused memory, resident \(r.before / 1024) KiB -> \(r.after / 1024) KiB")
    }
}
