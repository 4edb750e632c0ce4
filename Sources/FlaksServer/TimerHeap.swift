#if canImport(Glibc)
import Glibc
#endif

/// Where a loop reads the time: monotonic nanoseconds. Injectable, so a test can drive a loop's
/// timers with a clock it advances by hand.
public protocol LoopClock: Sendable {
    func now() -> UInt64
}

/// CLOCK_MONOTONIC.
public struct MonotonicClock: LoopClock {
    public init() {}
    public func now() -> UInt64 { monotonicNanos() }
}

/// Something with a deadline on a loop's timers: connections, CGI processes, upstream connections.
/// Loop thread only.
protocol TimerTarget: AnyObject {
    /// The loop stopped with this still scheduled: let go of what holds the owner (see
    /// `Selectable.loopStopped`). Default: nothing.
    func timersDropped()
    /// The heap's bookkeeping; the conforming class stores one and leaves it alone.
    var timerSlot: TimerSlot { get set }
    /// The deadline it was scheduled for has passed.
    func timerFired(now: UInt64)
}

extension TimerTarget {
    func timersDropped() {}
}

/// A target's place on the heap.
struct TimerSlot {
    /// Position in the heap array; -1 when not on it.
    fileprivate(set) var index = -1
    /// The time it is ordered by: never later than `deadline` (a deadline moved later keeps its
    /// place and is re-ordered only when that earlier time comes).
    fileprivate(set) var key: UInt64 = 0
    /// The deadline in force; 0 = none.
    fileprivate(set) var deadline: UInt64 = 0
    init() {}
}

/// One loop's timers: a binary min-heap of targets, one entry per target at most.
///
/// Deadlines move all the time (every request refreshes a connection's), nearly always later. A later
/// deadline costs nothing: the target keeps its place, and when the earlier key comes due the heap
/// finds the deadline moved and re-orders it then. Only an earlier deadline sifts. Removing a closed
/// target is O(log n), so the heap never keeps a closed connection alive.
final class TimerHeap {
    private var heap: [any TimerTarget] = []

    var count: Int { heap.count }

    /// Sets `target`'s deadline (0 = none: it leaves the heap when its old key comes due).
    func schedule(_ target: any TimerTarget, at deadline: UInt64) {
        target.timerSlot.deadline = deadline
        guard deadline != 0 else { return }
        let i = target.timerSlot.index
        if i >= 0 {
            if target.timerSlot.key <= deadline { return }
            target.timerSlot.key = deadline
            siftUp(i)
        } else {
            target.timerSlot.key = deadline
            target.timerSlot.index = heap.count
            heap.append(target)
            siftUp(heap.count - 1)
        }
    }

    /// Empties the heap (the loop has stopped); the targets are told they are off it first, so a
    /// deinit that removes itself finds nothing to do.
    func removeAll() {
        let old = heap
        heap = []
        for t in old {
            t.timerSlot.index = -1
            t.timerSlot.deadline = 0
            t.timersDropped()
        }
        withExtendedLifetime(old) {}
    }

    /// Takes `target` off the heap now.
    func remove(_ target: any TimerTarget) {
        target.timerSlot.deadline = 0
        let i = target.timerSlot.index
        guard i >= 0 else { return }
        removeAt(i)
    }

    /// The earliest time something may be due, if anything is scheduled.
    var nextKey: UInt64? { heap.first?.timerSlot.key }

    /// Fires every target whose deadline is at or before `now`. A target may schedule itself or others
    /// again from `timerFired`.
    func fireDue(now: UInt64) {
        while let top = heap.first, top.timerSlot.key <= now {
            let deadline = top.timerSlot.deadline
            if deadline == 0 {
                removeAt(0)
            } else if deadline > now {
                top.timerSlot.key = deadline
                siftDown(0)
            } else {
                removeAt(0)
                top.timerSlot.deadline = 0
                top.timerFired(now: now)
            }
        }
    }

    private func removeAt(_ i: Int) {
        let last = heap.count - 1
        heap[i].timerSlot.index = -1
        if i != last {
            heap.swapAt(i, last)
            heap[i].timerSlot.index = i
        }
        heap.removeLast()
        if i < heap.count {
            siftDown(i)
            siftUp(i)
        }
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].timerSlot.key < heap[parent].timerSlot.key else { break }
            heap.swapAt(i, parent)
            heap[i].timerSlot.index = i
            heap[parent].timerSlot.index = parent
            i = parent
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l].timerSlot.key < heap[m].timerSlot.key { m = l }
            if r < n && heap[r].timerSlot.key < heap[m].timerSlot.key { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            heap[i].timerSlot.index = i
            heap[m].timerSlot.index = m
            i = m
        }
    }
}
