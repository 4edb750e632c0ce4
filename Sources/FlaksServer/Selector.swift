#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// Something registered with a loop's selector: gets readiness events on its loop thread.
protocol Selectable: AnyObject {
    func ready(_ events: SelectorEvents)
    /// The loop stopped with this still registered: let go of what holds its owner (callbacks),
    /// so both can be freed. Default: nothing.
    func loopStopped()
}

extension Selectable {
    func loopStopped() {}
}

/// Readiness bits reported by epoll.
struct SelectorEvents: OptionSet {
    var rawValue: UInt32
    static let readable = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLIN))
    static let writable = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLOUT))
    static let readHangup = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLRDHUP))
    static let hangup = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLHUP))
    static let error = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLERR))
    static let edgeTriggered = SelectorEvents(rawValue: UInt32(truncatingIfNeeded: CFLAKS_EPOLLET))
    /// Wake only one of the epoll instances watching this file (a listener shared by the loops).
    static let exclusive = SelectorEvents(rawValue: 1 << 28)
}

/// An epoll instance. Each registration is stored in a slot indexed by fd with a generation;
/// the generation travels in `epoll_data` so events for a closed-and-reused fd are dropped.
/// Loop thread only.
final class Selector {
    private let epfd: Int32
    private var slots: [Slot] = []
    private var nextGeneration: UInt32 = 1
    private var datas = [UInt64](repeating: 0, count: 256)
    private var masks = [UInt32](repeating: 0, count: 256)

    private struct Slot {
        var generation: UInt32 = 0
        var target: (any Selectable)?
    }

    init() throws(SystemError) {
        epfd = try syscallBlocking("epoll_create1") { cflaks_epoll_create() }
    }

    deinit { close(epfd) }

    /// Registers `fd` for `interest`; events go to `target` until `deregister`.
    func register(fd: Int32, interest: SelectorEvents, target: any Selectable) throws(SystemError) {
        let i = Int(fd)
        if i >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: max(i + 1 - slots.count, slots.count))) }
        let gen = nextGeneration
        nextGeneration &+= 1
        if nextGeneration == 0 { nextGeneration = 1 }
        slots[i] = Slot(generation: gen, target: target)
        let data = UInt64(UInt32(bitPattern: fd)) | (UInt64(gen) << 32)
        _ = try syscallBlocking("epoll_ctl(ADD)") { cflaks_epoll_ctl(epfd, 1 /* EPOLL_CTL_ADD */, fd, interest.rawValue, data) }
    }

    /// Lets go of every target still registered (the loop has stopped). They close their own
    /// descriptors when they are freed; a target's deinit may call `deregister`, which finds nothing.
    func releaseTargets() {
        let old = slots
        slots = []
        for s in old { s.target?.loopStopped() }
        withExtendedLifetime(old) {}   // freed after the assignment, not during it
    }

    /// Drops unused slots at the end of the table (after a burst of connections closed).
    func shrink() {
        var last = slots.count - 1
        while last >= 0 && slots[last].target == nil { last -= 1 }
        slots = Array(slots[0...max(last, 0)])
    }

    /// Changes the interest of a registered fd.
    func modify(fd: Int32, interest: SelectorEvents) throws(SystemError) {
        let i = Int(fd)
        guard i < slots.count, slots[i].target != nil else { return }
        let data = UInt64(UInt32(bitPattern: fd)) | (UInt64(slots[i].generation) << 32)
        _ = try syscallBlocking("epoll_ctl(MOD)") { cflaks_epoll_ctl(epfd, 3 /* EPOLL_CTL_MOD */, fd, interest.rawValue, data) }
    }

    /// Removes `fd` (call before closing it). Pending events for it in this round are dropped.
    func deregister(fd: Int32) {
        let i = Int(fd)
        guard i < slots.count, slots[i].target != nil else { return }
        slots[i] = Slot()
        _ = cflaks_epoll_ctl(epfd, 2 /* EPOLL_CTL_DEL */, fd, 0, 0)
    }

    /// Waits up to `timeoutMs` (-1 = forever) for events; returns how many are ready for `dispatch`.
    /// The caller reads its clock between the two, so handlers see the time after the wait.
    func poll(timeoutMs: Int32) throws(SystemError) -> Int {
        switch try syscall("epoll_wait", { datas.withUnsafeMutableBufferPointer { d in
            masks.withUnsafeMutableBufferPointer { m in
                cflaks_epoll_wait(epfd, d.baseAddress, m.baseAddress, Int32(d.count), timeoutMs)
            }
        } }) {
        case .done(let v): return Int(v)
        case .wouldBlock: return 0
        }
    }

    /// Hands the `count` events of the last `poll` to their targets. An event whose registration is
    /// gone, or whose fd was closed and reused by a newer registration during this round, is dropped
    /// (the generation in its `epoll_data` no longer matches).
    func dispatch(_ count: Int) {
        for k in 0..<count {
            let data = datas[k]
            let fd = Int(UInt32(truncatingIfNeeded: data))
            let gen = UInt32(truncatingIfNeeded: data >> 32)
            guard fd < slots.count, slots[fd].generation == gen, let target = slots[fd].target else { continue }
            target.ready(SelectorEvents(rawValue: masks[k]))
        }
    }
}
