#define _GNU_SOURCE
#include "CFlaksLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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

int cflaks_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd, const char *chdir_to) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0) return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) { posix_spawn_file_actions_destroy(&fa); return rc; }
    int fds[3] = { stdin_fd, stdout_fd, stderr_fd };
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[i], i);
        else posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    if (chdir_to) posix_spawn_file_actions_addchdir_np(&fa, chdir_to);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Nothing but 0/1/2 crosses into the child, even a descriptor some library opened without
       O_CLOEXEC (the test runner's, Foundation's). */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    sigset_t none; sigemptyset(&none);
    sigset_t all; sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
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
