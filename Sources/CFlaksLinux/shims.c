#define _GNU_SOURCE
#include "CFlaksLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/vfs.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <linux/tcp.h>

int cflaks_errno(void) { return errno; }

int cflaks_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cflaks_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cflaks_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int maxevents, int timeout_ms) {
    struct epoll_event evs[256];
    if (maxevents > 256) maxevents = 256;
    int n = epoll_wait(epfd, evs, maxevents, timeout_ms);
    for (int i = 0; i < n; i++) { datas[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int cflaks_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

static void fill(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int cflaks_signalfd(const int *signals, int count) {
    sigset_t set; fill(&set, signals, count);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cflaks_signalfd_set(int fd, const int *signals, int count) {
    sigset_t set; fill(&set, signals, count);
    return signalfd(fd, &set, SFD_NONBLOCK | SFD_CLOEXEC) == fd ? 0 : -1;
}

int cflaks_block_signals(const int *signals, int count) {
    sigset_t set; fill(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cflaks_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
}

int cflaks_openat_beneath(int dirfd, const char *path, int flags) {
#ifdef SYS_openat2
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
    errno = ENOSYS;
    return -1;
#endif
}

ssize_t cflaks_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count) {
    off_t off = (off_t)*offset;
    ssize_t n = sendfile(out_fd, in_fd, &off, count);
    *offset = (int64_t)off;
    return n;
}

int64_t cflaks_fs_type(int fd) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return 0;
    return (int64_t)fs.f_type;
}

int64_t cflaks_tcp_data_segs_in(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    return (int64_t)info.tcpi_data_segs_in;
}

/* The spawn: clone(CLONE_VM | CLONE_VFORK) as glibc's posix_spawn does, minus what that costs
   per spawn and we do not need (bench/cgi.sh, one core: 70 -> 50 us of the parent's time per
   spawn in a C loop of 2,000; the script's own exec is most of what is left):
   - glibc's child calls sigaction for all 64 signals (with SETSIGDEF, or to find handlers);
     ours resets only the signals that are not at their default disposition (read once, then again
     whenever `cflaks_spawn_signals_changed` is called) plus the ones a server touches;
   - glibc mmaps (and munmaps) a stack for the child each time and checks every file action's
     descriptor against getrlimit (six prlimit64 calls); the child here runs on a buffer of the
     parent's stack (the parent's thread is suspended until the exec, as musl's posix_spawn does).
   The child makes raw system calls only, on descriptors and memory set up before the clone. */

static pthread_mutex_t spawn_signals_lock = PTHREAD_MUTEX_INITIALIZER;
static int spawn_signals[65];
static int spawn_signal_count = -1;   /* -1: not read yet */

static void read_spawn_signals(void) {
    static const int always[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM };
    /* A plain array, not a sigset_t: glibc's sigaddset refuses its internal signals 32 and 33,
       which a test runner's glibc may have ignored or given handlers. */
    char reset[65] = { 0 };
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++) reset[always[i]] = 1;
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        /* The kernel's sigaction layout starts with the handler too: only that field is read. */
        struct sigaction old;
        memset(&old, 0, sizeof old);
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, (size_t)8) == 0 && old.sa_handler != SIG_DFL) reset[sig] = 1;
    }
    int n = 0;
    for (int sig = 1; sig <= 64; sig++) if (reset[sig]) spawn_signals[n++] = sig;
    spawn_signal_count = n;
}

void cflaks_spawn_signals_changed(void) {
    pthread_mutex_lock(&spawn_signals_lock);
    read_spawn_signals();
    pthread_mutex_unlock(&spawn_signals_lock);
}

struct spawn_args {
    const char *path;
    char *const *argv;
    char *const *envp;
    int fds[3];
    const char *dir;
    const int *signals;
    int signal_count;
    struct sigaction dfl;   /* SIG_DFL, made by the parent: all zero, so read through the kernel's
                               layout too (handler, flags, restorer, mask) it is SIG_DFL, no flags */
    sigset_t none;          /* the child's mask, made by the parent */
    volatile int error;     /* written by the child before it exits when it cannot exec */
};

/* The child shares the parent's memory, and its thread's TLS: it makes raw system calls only (no
   libc or sanitizer interceptor may run here: a sanitizer's bookkeeping is the parent's), writes
   nothing but `error`, and is not instrumented. */
#if defined(__clang__)
#define CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined"), noinline))
#else
#define CHILD_CODE __attribute__((noinline))
#endif

CHILD_CODE static long child_dup2(int from, int to) {
#ifdef SYS_dup2
    return syscall(SYS_dup2, from, to);
#else
    return syscall(SYS_dup3, from, to, 0);
#endif
}

CHILD_CODE static int spawn_child(void *p) {
    struct spawn_args *a = p;
    long e = 0;
    /* Every signal is blocked (the parent blocked them before the clone): dispositions are reset
       before the mask is emptied, so none of the parent's handlers can run here. */
    for (int i = 0; i < a->signal_count; i++) syscall(SYS_rt_sigaction, a->signals[i], &a->dfl, NULL, (size_t)8);
    if (syscall(SYS_setpgid, 0, 0) != 0) goto fail;
    for (int i = 0; i < 3; i++) {
        int fd = a->fds[i];
        if (fd == i) {
            /* Already in place: only the close-on-exec flag must go. */
            if (syscall(SYS_fcntl, i, F_SETFD, 0) != 0) goto fail;
        } else if (fd >= 0) {
            if (child_dup2(fd, i) < 0) goto fail;
        } else {
            long n = syscall(SYS_openat, AT_FDCWD, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
            if (n < 0) goto fail;
            if (n != i) { if (child_dup2((int)n, i) < 0) goto fail; syscall(SYS_close, (int)n); }
        }
    }
    if (a->dir && syscall(SYS_chdir, a->dir) != 0) goto fail;
#ifdef SYS_close_range
    /* Nothing but 0/1/2 crosses into the child, even a descriptor some library opened without
       O_CLOEXEC (the test runner's, Foundation's). Ours are all close-on-exec anyway. */
    syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &a->none, NULL, (size_t)8);
    syscall(SYS_execve, a->path, a->argv, a->envp);
fail:
    e = errno;
    a->error = e ? (int)e : ENOEXEC;
    syscall(SYS_exit_group, 127);
    return 127;
}

/* glibc's own name for clone(2): ThreadSanitizer intercepts `clone` and treats it as a fork,
   which a CLONE_VM child breaks (a failed CHECK in ForkAfter); the child here runs no
   instrumented code, so there is nothing for a sanitizer to follow. */
#ifdef __GLIBC__
extern int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
#define spawn_clone __clone
#else
#define spawn_clone clone
#endif

/* /dev/null, opened once (close-on-exec) for the children's unused standard descriptors: the
   child then dup2s it instead of opening /dev/null (a path lookup) and closing it at each spawn.
   -1 when it could not be opened: the child opens /dev/null itself. */
static int devnull_fd = -1;
static pthread_once_t devnull_once = PTHREAD_ONCE_INIT;
static void open_devnull(void) { devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC); }

int cflaks_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd, const char *chdir_to) {
    struct spawn_args a;
    memset(&a, 0, sizeof a);
    a.path = path; a.argv = argv; a.envp = envp;
    a.fds[0] = stdin_fd; a.fds[1] = stdout_fd; a.fds[2] = stderr_fd;
    if (stdin_fd < 0 || stdout_fd < 0 || stderr_fd < 0) {
        pthread_once(&devnull_once, open_devnull);
        for (int i = 0; i < 3; i++) if (a.fds[i] < 0) a.fds[i] = devnull_fd;
    }
    a.dir = chdir_to;
    a.dfl.sa_handler = SIG_DFL;
    sigemptyset(&a.none);
    int signals[65];
    pthread_mutex_lock(&spawn_signals_lock);
    if (spawn_signal_count < 0) read_spawn_signals();
    memcpy(signals, spawn_signals, sizeof signals);
    a.signal_count = spawn_signal_count;
    pthread_mutex_unlock(&spawn_signals_lock);
    a.signals = signals;
    /* The child's stack: this frame's, unused while the parent is suspended (CLONE_VFORK). */
    _Alignas(16) char stack[32 * 1024];
    /* Every signal blocked, glibc's internal ones too (as glibc's spawn does), until the child
       has reset its dispositions. */
    sigset_t all, old;
    memset(&all, 0xff, sizeof all);   /* sigfillset leaves glibc's internal signals out */
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, (size_t)8);
    pid_t child = spawn_clone(spawn_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    int e = child < 0 ? errno : 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, (size_t)8);
    if (child < 0) return e;
    if (a.error != 0) {
        /* The exec failed: the child has exited; reap it here, as posix_spawn does. */
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return a.error;
    }
    *pid = child;
    return 0;
}

int cflaks_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cflaks_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int cflaks_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int cflaks_timerfd_set(int fd, uint64_t first_ns, uint64_t interval_ns) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(first_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(first_ns % 1000000000u);
    its.it_interval.tv_sec = (time_t)(interval_ns / 1000000000u);
    its.it_interval.tv_nsec = (long)(interval_ns % 1000000000u);
    return timerfd_settime(fd, 0, &its, NULL);
}

int cflaks_reap(pid_t pid, int *exit_code, int *signal_number) {
    int status = 0;
    pid_t r;
    do { r = waitpid(pid, &status, WNOHANG); } while (r < 0 && errno == EINTR);
    if (r <= 0) return (int)r;
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    if (*exit_code < 0 && *signal_number < 0) *exit_code = 0;
    return (int)r;
}

int cflaks_accept(int fd, void *addr, uint32_t *len) {
    return accept4(fd, (struct sockaddr *)addr, (socklen_t *)len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void cflaks_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

int cflaks_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int cflaks_is_child_subreaper(void) {
    int on = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) != 0) return -1;
    return on;
}

_Static_assert(CFLAKS_EPOLLIN == EPOLLIN && CFLAKS_EPOLLOUT == EPOLLOUT && CFLAKS_EPOLLERR == EPOLLERR &&
               CFLAKS_EPOLLHUP == EPOLLHUP && CFLAKS_EPOLLRDHUP == EPOLLRDHUP && CFLAKS_EPOLLET == (uint32_t)EPOLLET,
               "epoll constants");
_Static_assert(CFLAKS_O_PATH == O_PATH, "O_PATH");

int cflaks_malloc_trim(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}

#include <stdio.h>
#include <sys/mman.h>
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

long cflaks_release_image_pages(void) {
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return -1;
    char line[4608];
    long released = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[32], path[4352];
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %31s %lu %4351[^\n]", &lo, &hi, perms, &off, dev, &inode, path) < 7) continue;
        // Only clean pages of files: never a writable mapping (its written pages are private copies).
        if (path[0] != '/' || perms[1] == 'w' || inode == 0) continue;
        if (madvise((void *)lo, hi - lo, MADV_PAGEOUT) == 0) released += (long)(hi - lo);
    }
    fclose(f);
    return released;
}

long cflaks_resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f) return -1;
    long size = 0, resident = -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

// The socket calls of the request path, made directly: glibc's read/send/writev are
// cancellation points and wrap each call in pthread cancel-state changes Flaks never needs
// (it does not cancel threads), measured at ~1.5% of a small keep-alive request's CPU.
ssize_t cflaks_read(int fd, void *buf, size_t count) { return syscall(SYS_read, fd, buf, count); }
ssize_t cflaks_send(int fd, const void *buf, size_t count, int flags) {
    return syscall(SYS_sendto, fd, buf, count, flags, NULL, 0);
}
ssize_t cflaks_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen) {
    struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
    return syscall(SYS_writev, fd, iov, 2);
}
