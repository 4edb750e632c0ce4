#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
@testable import FlaksServer
import Testing

/// The selector and the timer heap, without a server.
@Suite("Loop internals: selector and timers")
struct LoopInternalsTests {
    final class Recorder: Selectable {
        var events = 0
        func ready(_ events: SelectorEvents) { self.events += 1 }
    }

    /// Writes a byte into a new pipe and returns (read end, write end).
    static func readablePipe() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = cflaks_pipe(&fds)
        var b: UInt8 = 1
        _ = write(fds[1], &b, 1)
        return (fds[0], fds[1])
    }

    @Test func anEventForAClosedAndReusedDescriptorIsDropped() throws {
        let selector = try Selector()
        let (a, aw) = Self.readablePipe()
        let (b, bw) = Self.readablePipe()
        let first = Recorder(), second = Recorder(), newcomer = Recorder()
        try selector.register(fd: a, interest: .readable, target: first)
        try selector.register(fd: b, interest: .readable, target: second)
        let n = try selector.poll(timeoutMs: 1000)
        #expect(n == 2)
        // Between the wait and the dispatch, `b` is closed and its number is taken by a new, idle
        // descriptor with another target (as when a callback closes one connection and accepts another).
        selector.deregister(fd: b)
        var fresh: [Int32] = [-1, -1]
        _ = cflaks_pipe(&fresh)
        // dup2 closes b and puts the new pipe at its number in one step: closing b first and
        // waiting for the number to come back raced with other tests' threads opening descriptors
        // (one of them took it, and the dup2 then replaced that thread's descriptor).
        let reused = dup2(fresh[0], b)
        close(fresh[0])
        #expect(reused == b)
        try selector.register(fd: reused, interest: .readable, target: newcomer)
        selector.dispatch(n)
        #expect(first.events == 1)
        #expect(second.events == 0, "deregistered: its pending event is dropped")
        #expect(newcomer.events == 0, "the stale event of the old registration must not reach the new one")
        for fd in [a, aw, bw, reused, fresh[1]] { close(fd) }
    }

    final class Timed: TimerTarget {
        var timerSlot = TimerSlot()
        let name: String
        let log: Log
        var reschedule: UInt64 = 0
        init(_ name: String, _ log: Log) { self.name = name; self.log = log }
        func timerFired(now: UInt64) { log.fired.append("\(name)@\(now)") }
    }

    final class Log { var fired: [String] = [] }

    @Test func timersFireInDeadlineOrderAndOnlyWhenDue() {
        let heap = TimerHeap()
        let log = Log()
        let a = Timed("a", log), b = Timed("b", log), c = Timed("c", log)
        heap.schedule(a, at: 300)
        heap.schedule(b, at: 100)
        heap.schedule(c, at: 200)
        #expect(heap.nextKey == 100)
        heap.fireDue(now: 99)
        #expect(log.fired.isEmpty)
        heap.fireDue(now: 250)
        #expect(log.fired == ["b@250", "c@250"])
        heap.fireDue(now: 1000)
        #expect(log.fired == ["b@250", "c@250", "a@1000"])
        #expect(heap.count == 0)
    }

    @Test func aDeadlineMovedLaterKeepsItsPlaceAndFiresAtTheNewTime() {
        let heap = TimerHeap()
        let log = Log()
        let a = Timed("a", log)
        heap.schedule(a, at: 100)
        heap.schedule(a, at: 500)  // later: no sift, re-ordered when 100 comes
        #expect(heap.count == 1)
        heap.fireDue(now: 100)
        #expect(log.fired.isEmpty, "the key came due but the deadline moved")
        #expect(heap.nextKey == 500)
        heap.schedule(a, at: 50)   // earlier: sifts at once
        heap.fireDue(now: 60)
        #expect(log.fired == ["a@60"])
    }

    @Test func aCancelledOrRemovedTargetNeverFires() {
        let heap = TimerHeap()
        let log = Log()
        let a = Timed("a", log), b = Timed("b", log)
        heap.schedule(a, at: 10)
        heap.schedule(b, at: 20)
        heap.schedule(a, at: 0)    // no deadline any more
        heap.remove(b)             // gone (a closed connection)
        #expect(heap.count == 1)
        heap.fireDue(now: 100)
        #expect(log.fired.isEmpty)
        #expect(heap.count == 0)
    }

    @Test func manyTargetsKeepHeapOrder() {
        let heap = TimerHeap()
        let log = Log()
        var rng = SystemRandomNumberGenerator()
        var targets: [Timed] = []
        var deadlines: [String: UInt64] = [:]
        for i in 0..<500 {
            let t = Timed("t\(i)", log)
            let d = UInt64.random(in: 1...10_000, using: &rng)
            heap.schedule(t, at: d)
            deadlines[t.name] = d
            targets.append(t)
        }
        for t in targets.prefix(100) { heap.remove(t) }
        heap.fireDue(now: 20_000)
        #expect(log.fired.count == 400)
        let times = log.fired.map { deadlines[String($0.split(separator: "@")[0])] ?? 0 }
        #expect(times == times.sorted(), "fired in deadline order")
    }
}
