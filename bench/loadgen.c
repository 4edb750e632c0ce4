// loadgen: a lean HTTP/1.1 keep-alive load generator for bench/ (CLIENT=loadgen in bench/lib.sh).
//
// Why it exists: on a 2-core machine the client has one core, and wrk runs out of it before the
// servers do (docs/performance.md, "Throughput, side by side"). Per request wrk re-arms its
// write interest with two epoll_ctl calls (its ae loop adds AE_WRITABLE to send the request and
// deletes it after), each of which polls the socket, and runs a full http_parser over the answer.
// This client registers each connection once (edge-triggered, EPOLLIN only), writes the next
// request as soon as the answer is complete, and reads the head only for the status and
// Content-Length, so the servers, not the client, set the pace. It treats every server the same.
//
//   loadgen -c CONNECTIONS -d SECONDS[s] URL      (http://127.0.0.1:PORT/PATH; loopback only)
//
// Prints wrk's summary lines ("N requests in ...", "Requests/sec:", the latency percentiles,
// "Non-2xx or 3xx responses:", "Socket errors:") so bench/lib.sh reads either client the same way.
// One request in flight per connection (no pipelining); a connection the server closes is
// reopened and counted as an error; an answer without Content-Length is an error (it stops).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define HEAD_MAX 8192
#define READ_CHUNK (256 * 1024)
#define HIST_US 1000000 // latency histogram: 1 µs buckets up to 1 s, the rest in the last

typedef struct {
  int fd;
  uint64_t sent_ns;   // when the request in flight was written
  size_t head_len;    // bytes of the answer's head gathered so far (head[])
  int64_t body_left;  // -1: still in the head; else body bytes still to come
  int closing;        // the answer said "Connection: close": reconnect after it
  char head[HEAD_MAX];
} conn_t;

static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static uint32_t *hist;
static uint64_t completed, non2xx, read_errors, write_errors, connect_errors, reconnects, bytes_read;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int open_conn(int ep, conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); connect_errors++; return -1; }
  // Non-blocking from here: every recv and send below is MSG_DONTWAIT, so no fcntl is needed.
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  c->fd = fd;
  return 0;
}

static int send_request(conn_t *c, uint64_t t) {
  c->head_len = 0;
  c->body_left = -1;
  c->closing = 0;
  c->sent_ns = t;
  ssize_t n = send(c->fd, request, request_len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == (ssize_t)request_len) return 0;
  write_errors++; // a request is far smaller than an empty socket buffer: a short write is an error
  return -1;
}

static void record(uint64_t t, const conn_t *c) {
  uint64_t us = (t - c->sent_ns) / 1000;
  hist[us < HIST_US ? us : HIST_US - 1]++;
  completed++;
}

// The head is complete in c->head[0..len): check the status, find Content-Length and whether the
// server closes the connection after this answer (max_keepalive_requests, keepalive_requests).
static int parse_head(conn_t *c, size_t len) {
  if (len < 12 || memcmp(c->head, "HTTP/1.", 7) != 0) return -1;
  if (c->head[9] != '2') non2xx++;
  const char *p = c->head, *end = c->head + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) break;
    size_t line = (size_t)(eol - p);
    if (line > 15 && strncasecmp(p, "content-length:", 15) == 0) c->body_left = strtoll(p + 15, NULL, 10);
    else if (line > 11 && strncasecmp(p, "connection:", 11) == 0 && memmem(p, line, "close", 5)) c->closing = 1;
    p = eol + 1;
  }
  return c->body_left >= 0 ? 0 : -1;
}

// Reads what is there for c; returns 1 when the answer is complete, 0 when more is to come,
// -1 when the connection failed or closed.
static int on_readable(conn_t *c, char *scratch) {
  for (;;) {
    char *dst;
    size_t cap;
    if (c->body_left < 0) { dst = c->head + c->head_len; cap = HEAD_MAX - c->head_len; }
    else { dst = scratch; cap = READ_CHUNK; }
    if (cap == 0) { fprintf(stderr, "loadgen: an answer's head is over %d bytes\n", HEAD_MAX); exit(2); }
    ssize_t n = recv(c->fd, dst, cap, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      read_errors++;
      return -1;
    }
    if (n == 0) { read_errors++; return -1; }
    bytes_read += (uint64_t)n;
    if (c->body_left < 0) {
      size_t from = c->head_len >= 3 ? c->head_len - 3 : 0;
      c->head_len += (size_t)n;
      char *hend = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
      if (!hend) continue;
      size_t head_size = (size_t)(hend - c->head) + 4;
      if (parse_head(c, head_size) < 0) {
        fprintf(stderr, "loadgen: an answer without a status line or Content-Length:\n%.*s\n",
                (int)head_size, c->head);
        exit(2);
      }
      c->body_left -= (int64_t)(c->head_len - head_size);
    } else {
      c->body_left -= n;
    }
    if (c->body_left == 0) return 1;
    if (c->body_left < 0) { read_errors++; return -1; } // more bytes than announced
    // Part of the body is still to come: read on (edge-triggered: until EAGAIN).
  }
}

static double parse_seconds(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*end == 'm' && end[1] == 's') v /= 1000;
  else if (*end == 'm') v *= 60;
  return v;
}

static void print_latency(double secs) {
  double total_ms = 0;
  uint64_t seen = 0;
  for (uint64_t i = 0; i < HIST_US; i++) total_ms += (double)hist[i] * (double)i / 1000.0;
  printf("Running %.0fs test @ loadgen\n", secs);
  printf("  Thread Stats   Avg\n    Latency   %.2fms\n", completed ? total_ms / (double)completed : 0);
  printf("  Latency Distribution\n");
  const double pcts[] = {50, 75, 90, 99};
  int k = 0;
  for (uint64_t i = 0; i < HIST_US && k < 4; i++) {
    seen += hist[i];
    while (k < 4 && completed && (double)seen >= pcts[k] / 100.0 * (double)completed) {
      printf("     %.0f%%    %.2fms\n", pcts[k], (double)i / 1000.0);
      k++;
    }
  }
}

int main(int argc, char **argv) {
  int conns = 50;
  double secs = 10;
  const char *url = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-d") && i + 1 < argc) secs = parse_seconds(argv[++i]);
    else if (!strncmp(argv[i], "http://", 7)) url = argv[i];
    else { fprintf(stderr, "usage: loadgen -c CONNECTIONS -d SECONDS[s] http://127.0.0.1:PORT/PATH\n"); return 2; }
  }
  if (!url || conns < 1 || conns > MAX_CONNS || secs <= 0) {
    fprintf(stderr, "usage: loadgen -c CONNECTIONS(1-%d) -d SECONDS[s] http://127.0.0.1:PORT/PATH\n", MAX_CONNS);
    return 2;
  }
  char host[256];
  int port = 80;
  const char *hp = url + 7, *slash = strchr(hp, '/');
  const char *path = slash ? slash : "/";
  size_t hlen = slash ? (size_t)(slash - hp) : strlen(hp);
  if (hlen == 0 || hlen >= sizeof host) { fprintf(stderr, "loadgen: bad URL %s\n", url); return 2; }
  memcpy(host, hp, hlen);
  host[hlen] = 0;
  char *colon = strrchr(host, ':');
  if (colon) { port = atoi(colon + 1); *colon = 0; }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "loadgen: %s is not a loopback IPv4 address\n", host);
    return 2;
  }
  // The same request line and fields wrk sends by default.
  int rl = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);
  if (rl <= 0 || (size_t)rl >= sizeof request) { fprintf(stderr, "loadgen: URL too long\n"); return 2; }
  request_len = (size_t)rl;

  hist = calloc(HIST_US, sizeof *hist);
  conn_t *cs = calloc((size_t)conns, sizeof *cs);
  char *scratch = malloc(READ_CHUNK);
  if (!hist || !cs || !scratch) die("calloc");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  uint64_t start = now_ns(), deadline = start + (uint64_t)(secs * 1e9);
  for (int i = 0; i < conns; i++) {
    if (open_conn(ep, &cs[i]) < 0) die("connect");
    if (send_request(&cs[i], start) < 0) die("send");
  }
  struct epoll_event evs[256];
  uint64_t t = start;
  while (t < deadline) {
    int timeout_ms = (int)((deadline - t) / 1000000) + 1;
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    t = now_ns(); // one clock read per batch: the latencies are exact to the batch's length
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int r = on_readable(c, scratch);
      if (r == 1) {
        record(t, c);
        if (t >= deadline) continue;
        // An answer that announced the close, or a close seen with it (edge-triggered: its edge
        // came with this event), ends the connection: reopen without counting an error.
        if (c->closing || (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) reconnects++;
        else if (send_request(c, t) == 0) continue;
      } else if (r == 0) {
        continue;
      }
      // Failed or closed: reopen, so the count of connections stays as asked.
      close(c->fd);
      if (open_conn(ep, c) < 0 || send_request(c, t) < 0) { fprintf(stderr, "loadgen: cannot reconnect\n"); return 2; }
    }
  }
  double elapsed = (double)(t - start) / 1e9;
  print_latency(secs);
  printf("  %llu requests in %.2fs, %.2fMB read\n", (unsigned long long)completed, elapsed,
         (double)bytes_read / 1048576.0);
  if (read_errors || write_errors || connect_errors)
    printf("  Socket errors: connect %llu, read %llu, write %llu, timeout 0\n",
           (unsigned long long)connect_errors, (unsigned long long)read_errors,
           (unsigned long long)write_errors);
  if (reconnects) printf("  Reconnects (the server closed after an answer): %llu\n", (unsigned long long)reconnects);
  if (non2xx) printf("  Non-2xx or 3xx responses: %llu\n", (unsigned long long)non2xx);
  printf("Requests/sec: %.2f\n", (double)completed / elapsed);
  printf("Transfer/sec: %.2fMB\n", (double)bytes_read / 1048576.0 / elapsed);
  return 0;
}
