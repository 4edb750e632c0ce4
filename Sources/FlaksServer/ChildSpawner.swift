#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksHandlers

/// A child process started with pipes on its standard descriptors.
struct SpawnedChild {
    let pid: pid_t
    /// Our ends, non-blocking and close-on-exec; `stdin` is -1 when the child reads /dev/null.
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32
    /// A pidfd (readable once the child exits), or -1 where pidfd_open is missing or none was asked for.
    let pidFD: Int32
}

/// Starts programs the way CGI scripts and supervised services need: `cflaks_spawn` (a vfork-style
/// clone as glibc's posix_spawn, without its per-spawn sigaction sweep and stack mapping: it costs
/// about an exec), fresh pipes on 0/1/2, the child in its own process group (so a signal reaches
/// everything it starts), default signal dispositions and an empty signal mask, a working
/// directory, and the environment given, nothing inherited. Every descriptor of ours is
/// close-on-exec, so no concurrently spawned child inherits another's pipes, and the child closes
/// every descriptor above 2 before exec. The pid is a `KnownChildren` entry until its watcher reaps it.
enum ChildSpawner {
    /// Spawns `executable` with `arguments` (argv, argv[0] included) and `environment` ("NAME=value").
    /// `withStdin`: a pipe for stdin (else /dev/null). Returns the child or a message for the log.
    static func spawn(executable: String, arguments: [String], environment: [String], directory: String?,
                      withStdin: Bool) -> Result<SpawnedChild, SpawnError> {
        withCStrings(environment) { envp in
            spawn(executable: executable, arguments: arguments, envp: envp, directory: directory, withStdin: withStdin)
        }
    }

    /// `spawn` with the environment as one block (a CGI script's: no C string copied per variable),
    /// and no pidfd: a script is watched from its output's end (`ChildExitWatcher.reapOrWatch`).
    static func spawn(executable: String, arguments: [String], environment: CGIEnvironmentBlock, directory: String?,
                      withStdin: Bool) -> Result<SpawnedChild, SpawnError> {
        environment.withEntryPointers { envp in
            spawn(executable: executable, arguments: arguments, envp: envp, directory: directory, withStdin: withStdin,
                  openPidFD: false)
        }
    }

    private static func spawn(executable: String, arguments: [String], envp: UnsafePointer<UnsafeMutablePointer<CChar>?>,
                              directory: String?, withStdin: Bool, openPidFD: Bool = true) -> Result<SpawnedChild, SpawnError> {
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1], inp: [Int32] = [-1, -1]
        guard cflaks_pipe(&out) == 0, cflaks_pipe(&err) == 0, !withStdin || cflaks_pipe(&inp) == 0 else {
            let e = cflaks_errno()
            for fd in out + err + inp where fd >= 0 { close(fd) }
            return .failure(SpawnError(message: "pipe2: \(SystemError("pipe2", errno: e))"))
        }
        var child: pid_t = 0
        // Registered as a known child before the orphan reaper may look (KnownChildren).
        let rc = KnownChildren.spawning { () -> (Int32, Int32?) in
            let rc = withCStrings(arguments) { argv in
                cflaks_spawn(&child, executable, argv, envp, inp[0], out[1], err[1], directory)
            }
            return (rc, rc == 0 ? child : nil)
        }
        // The child's ends now live in the child only.
        for fd in [inp[0], out[1], err[1]] where fd >= 0 { close(fd) }
        guard rc == 0 else {
            for fd in [inp[1], out[0], err[0]] where fd >= 0 { close(fd) }
            return .failure(SpawnError(message: "cannot run \(executable): \(String(cString: strerror(rc)))"))
        }
        // Our ends only (the child's stay blocking). A new pipe end has no other status flag to keep.
        for fd in [out[0], err[0], inp[1]] where fd >= 0 { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
        return .success(SpawnedChild(pid: child, stdin: inp[1], stdout: out[0], stderr: err[0],
                                     pidFD: openPidFD ? cflaks_pidfd_open(child) : -1))
    }

    /// Why a spawn failed.
    struct SpawnError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Runs `body` with a NULL-terminated array of C strings.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
