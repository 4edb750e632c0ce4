#ifndef CFLAKS_LINUX_H
#define CFLAKS_LINUX_H

#include <stdint.h>
#include <sys/types.h>

/// epoll_event is packed on x86_64; these shims hide the layout from Swift.
/// Waits for events; fills `fds`-parallel arrays with the 64-bit data and event mask.
int cflaks_epoll_create(void);
int cflaks_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int cflaks_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int maxevents, int timeout_ms);

int cflaks_eventfd(void);
int cflaks_signalfd(const int *signals, int count);
/// Replaces the signals a signalfd reports (they stay blocked: one left out stays pending). 0 or -1.
int cflaks_signalfd_set(int fd, const int *signals, int count);
/// Blocks the given signals in the calling thread (inherited by threads it starts).
int cflaks_block_signals(const int *signals, int count);
/// Reads one signal from a signalfd; returns the signal number, 0 when none is pending, -1 on error.
int cflaks_signalfd_read(int fd);

/// openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS; falls back to -1/ENOSYS when unavailable.
int cflaks_openat_beneath(int dirfd, const char *path, int flags);

ssize_t cflaks_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count);
/// The file system type (statfs f_type) of the file `fd` is on; 0 with errno set on failure.
int64_t cflaks_fs_type(int fd);
/// Data segments received on the TCP socket `fd` so far (TCP_INFO tcpi_data_segs_in); -1 on failure.
int64_t cflaks_tcp_data_segs_in(int fd);
/// read(2), send(2) and a two-buffer writev(2) as direct system calls (no cancellation-point wrapper).
ssize_t cflaks_read(int fd, void *buf, size_t count);
ssize_t cflaks_send(int fd, const void *buf, size_t count, int flags);
ssize_t cflaks_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen);

/// Spawns `path` as posix_spawn would (a vfork-style clone, then exec), with stdin/stdout/stderr
/// fds (-1 = /dev/null), its own process group, chdir (may be NULL), default signal dispositions,
/// an empty signal mask, and every other descriptor closed in the child (close_range).
/// Returns 0 and the pid, or an errno (the exec's, when it failed: the child is then reaped).
int cflaks_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd, const char *chdir_to);
/// Re-reads which signals a spawned child must reset to their default disposition (those not at
/// it in this process); call after changing a disposition (`cflaks_spawn` reads them once).
void cflaks_spawn_signals_changed(void);

int cflaks_errno(void);

/// pipe2(O_CLOEXEC): both ends close-on-exec, so no concurrently spawned child inherits them
/// (the spawned child's dup2 onto 0/1/2 clears the flag on its copies).
int cflaks_pipe(int fds[2]);
/// pidfd_open(pid, 0) (Linux >= 5.3): readable once the process exits. -1 with errno ENOSYS when unavailable.
int cflaks_pidfd_open(pid_t pid);
/// A CLOCK_MONOTONIC timerfd, non-blocking and close-on-exec.
int cflaks_timerfd(void);
/// Arms a timerfd: first expiry after `first_ns` (0 disarms), then every `interval_ns` (0 = once).
int cflaks_timerfd_set(int fd, uint64_t first_ns, uint64_t interval_ns);
/// waitpid(pid, WNOHANG) with the status decoded: returns pid when reaped (then exactly one of
/// *exit_code / *signal_number is >= 0, the other -1), 0 when still running, -1 with errno on error.
int cflaks_reap(pid_t pid, int *exit_code, int *signal_number);

/// epoll event bits (the Glibc module does not export the enum's values).
enum {
    CFLAKS_EPOLLIN = 0x001, CFLAKS_EPOLLOUT = 0x004, CFLAKS_EPOLLERR = 0x008, CFLAKS_EPOLLHUP = 0x010,
    CFLAKS_EPOLLRDHUP = 0x2000, CFLAKS_EPOLLET = 1u << 31
};

/// O_PATH (Glibc hides it without _GNU_SOURCE): open for fstat/openat only, no read access needed.
enum { CFLAKS_O_PATH = 010000000 };

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int cflaks_accept(int fd, void *addr, uint32_t *len);
/// Returns freed heap memory to the system (glibc malloc_trim(0)); 0 when unavailable.
int cflaks_malloc_trim(void);
/// Asks the kernel to take back the resident pages of this process's read-only file mappings (its
/// executable and libraries) with MADV_PAGEOUT (Linux >= 5.4). Pages another process also maps are
/// left alone by the kernel; pages in use again fault back in from the page cache or the file.
/// Used after loading a manifest: YAML, Foundation and start-up code are not needed to serve.
/// Returns the bytes of mappings advised, or -1.
long cflaks_release_image_pages(void);
/// Resident set size of this process in bytes (/proc/self/statm), or -1.
long cflaks_resident_bytes(void);

/// Names the calling thread (Linux shows 15 bytes).
void cflaks_set_thread_name(const char *name);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to this process instead
/// of init, so it can reap (and kill) them. 0 or -1 with errno.
int cflaks_set_child_subreaper(void);
/// 1 when this process is a child subreaper, 0 when not, -1 on error.
int cflaks_is_child_subreaper(void);
#endif
