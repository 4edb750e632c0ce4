#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import Synchronization

/// Orphans: processes started by a service (or a CGI script) that outlived their parent and were
/// re-parented to Flaks, which `flaks serve` makes a child subreaper (PR_SET_CHILD_SUBREAPER).
/// Without it they would go to init; with it, Flaks must reap them, or they stay zombies.
///
/// In-process servers (tests, apps embedding Flaks) never become subreapers: their host's other
/// children are not ours to reap. Everything here does nothing unless `becomeSubreaper()` succeeded.
///
/// Reaping never takes a known child's status (`KnownChildren`): the children are listed from
/// `/proc/self/task/*/children` (an orphan goes to any thread of the subreaper), then, only if no
/// spawn was under way meanwhile, each child not known is reaped with `waitpid(pid, WNOHANG)`.
public enum OrphanReaper {
    // any thread; atomic. Set once by `becomeSubreaper`.
    private static let enabled = Atomic<Bool>(false)

    /// Makes this process a child subreaper. `flaks serve` calls it before starting anything; the
    /// control thread then calls `reapOrphans` on SIGCHLD. Returns false when the kernel refused.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        guard cflaks_set_child_subreaper() == 0 else { return false }
        enabled.store(true, ordering: .sequentiallyConsistent)
        return true
    }

    /// Whether this process is a subreaper (set by `becomeSubreaper`).
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// The pids of this process's children (every thread's), from /proc.
    static func children() -> [Int32] {
        var out: [Int32] = []
        guard let dir = opendir("/proc/self/task") else { return out }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { continue }
            guard let bytes = readProcFile("/proc/self/task/\(name)/children") else { continue }
            // "pid pid ... ": decimal numbers separated by spaces.
            var pid: Int64 = 0, digits = 0
            func flush() {
                if digits > 0 && digits <= 10 && pid <= Int64(Int32.max) { out.append(Int32(pid)) }
                pid = 0; digits = 0
            }
            for b in bytes {
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                    if digits < 10 { pid = pid * 10 + Int64(b - UInt8(ascii: "0")) }
                    digits += 1
                } else {
                    flush()
                }
            }
            flush()
        }
        return out
    }

    /// Reaps every child that has exited and that no watcher knows. Returns false when the pass
    /// had to be given up (a spawn was under way); call again a little later.
    @discardableResult
    public static func reapOrphans() -> Bool {
        guard isEnabled else { return true }
        let listed = children()
        // A child spawned while we listed may not be registered yet: then it is not ours to judge.
        guard KnownChildren.spawnsInProgress == 0 else { return false }
        let known = KnownChildren.snapshot
        for pid in listed where !known.contains(pid) {
            var code: Int32 = -1, sig: Int32 = -1
            _ = cflaks_reap(pid, &code, &sig)
        }
        return true
    }

    /// SIGKILLs the orphans started by one instance: children of ours no watcher knows whose
    /// environment still carries the instance's FLAKS_SERVICE, FLAKS_INSTANCE and PORT (a triple no
    /// other live instance has). Their process group too when they lead one. Returns how many.
    /// Called once the instance's main process was reaped; they are reaped on the SIGCHLD that follows.
    @discardableResult
    static func killOrphans(service: String, instance: Int, port: Int) -> Int {
        guard isEnabled else { return 0 }
        let marks: [[UInt8]] = ["FLAKS_SERVICE=\(service)", "FLAKS_INSTANCE=\(instance)", "PORT=\(port)"].map { Array($0.utf8) }
        let known = KnownChildren.snapshot
        var killed = 0
        for pid in children() where !known.contains(pid) {
            guard let environ = readProcFile("/proc/\(pid)/environ") else { continue }
            let vars = environ.split(separator: 0, omittingEmptySubsequences: true)
            guard marks.allSatisfy({ mark in vars.contains { $0.elementsEqual(mark) } }) else { continue }
            if getpgid(pid) == pid { _ = kill(-pid, SIGKILL) }
            _ = kill(pid, SIGKILL)
            killed += 1
        }
        return killed
    }

    /// At exit, after every service was stopped: SIGKILLs every child left (all are orphans by
    /// then) and reaps them, until none is left or `timeoutNanos` passed. Returns how many were killed.
    @discardableResult
    static func killAllOrphans(timeoutNanos: UInt64 = 2_000_000_000) -> Int {
        guard isEnabled else { return 0 }
        let deadline = monotonicNanos() &+ timeoutNanos
        var killed = Set<Int32>()
        while monotonicNanos() < deadline {
            let known = KnownChildren.snapshot
            let left = children().filter { !known.contains($0) }
            if left.isEmpty { break }
            for pid in left {
                if killed.insert(pid).inserted {
                    if getpgid(pid) == pid { _ = kill(-pid, SIGKILL) }
                    _ = kill(pid, SIGKILL)
                }
                var code: Int32 = -1, sig: Int32 = -1
                _ = cflaks_reap(pid, &code, &sig)
            }
            usleep(2_000)
        }
        return killed.count
    }

    /// The whole content of a small /proc file, or nil.
    static func readProcFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 16) { chunk in
            while true {
                let n = Glibc.read(fd, chunk.baseAddress, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                if out.count > 1 << 20 { break }
            }
        }
        return out
    }
}
