#!/usr/bin/env python3
"""A small HTTP service for Flaks to supervise (the `services:` block of config.yaml).

Standard library only. Flaks starts it with PORT (a free loopback port picked for this
instance), HOST=127.0.0.1, FLAKS_SERVICE and FLAKS_INSTANCE in its environment, plus the
manifest's `env`; it proxies `/api/` here with `strip_prefix: true`, so `/api/echo` arrives as
`/echo`.

    GET  /healthz   200 "ok": the manifest's `ready:` path (no traffic until it answers)
    GET  /          who answered: service, instance, pid, GREETING, uptime
    GET  /time      the time now (UTC, RFC 3339 and Unix seconds)
    GET  /echo      what arrived: method, path, query, headers (X-Forwarded-* set by Flaks)
    GET  /slow?s=N  answers after N seconds (at most 10): watch a reload wait for it
    POST /echo      the same, with the body (up to 64 KiB)

Run it alone:  PORT=9000 python3 sites/services/hello.py  then  curl localhost:9000/
On SIGTERM (Flaks' default `stop_signal`) it stops accepting, finishes the requests it is
answering and exits 0.
"""
import datetime
import http.server
import json
import os
import signal
import sys
import threading
import time

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "9000"))
SERVICE = os.environ.get("FLAKS_SERVICE", "hello")
INSTANCE = os.environ.get("FLAKS_INSTANCE", "0")
GREETING = os.environ.get("GREETING", "hello from a service Flaks supervises")
STARTED = time.time()
MAX_BODY = 64 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Flaks keeps idle connections to each instance
    server_version = "hello.py"

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            self.answer(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/":
            self.json({"service": SERVICE, "instance": int(INSTANCE), "pid": os.getpid(),
                       "greeting": GREETING, "uptime_s": round(time.time() - STARTED, 3)})
        elif path == "/time":
            now = datetime.datetime.now(datetime.timezone.utc)
            self.json({"utc": now.isoformat(timespec="seconds"), "unix": int(now.timestamp())})
        elif path == "/echo":
            self.json(self.described(path, query))
        elif path == "/slow":
            try:
                seconds = min(max(float(query.partition("s=")[2] or "1"), 0.0), 10.0)
            except ValueError:
                seconds = 1.0
            time.sleep(seconds)
            self.json({"slept_s": seconds, "instance": int(INSTANCE), "pid": os.getpid(), "greeting": GREETING})
        else:
            self.json({"error": "not found", "path": path}, status=404)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        path, _, query = self.path.partition("?")
        if path != "/echo":
            self.json({"error": "only /echo takes a POST"}, status=405, extra={"Allow": "GET, HEAD"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.json({"error": "a body of 0 to %d bytes with Content-Length" % MAX_BODY}, status=413)
            return
        body = self.rfile.read(length)
        info = self.described(path, query)
        info["body"] = body.decode("utf-8", "replace")
        self.json(info)

    def described(self, path, query):
        return {"method": self.command, "path": path, "query": query,
                "headers": {k: v for k, v in self.headers.items()}, "instance": int(INSTANCE)}

    def json(self, value, status=200, extra=None):
        body = (json.dumps(value, indent=1) + "\n").encode()
        self.answer(status, body, "application/json", extra)

    def answer(self, status, body, content_type, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # Flaks writes the access log; stdout/stderr lines land in its error log


class Server(http.server.ThreadingHTTPServer):
    # Threads waiting on an idle kept connection must not hold up the exit; the requests being
    # answered are waited for (`busy`) instead.
    daemon_threads = True


busy = 0
busy_lock = threading.Condition()


def counted(method):
    """Counts a request as being answered while `method` runs."""
    def run(self):
        global busy
        with busy_lock:
            busy += 1
        try:
            method(self)
        finally:
            with busy_lock:
                busy -= 1
                busy_lock.notify_all()
    return run


for _name in ("do_GET", "do_HEAD", "do_POST"):
    setattr(Handler, _name, counted(getattr(Handler, _name)))


def main():
    httpd = Server((HOST, PORT), Handler)

    def stop(signum, _frame):
        # shutdown() waits for serve_forever to return, so it runs on another thread.
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("%s#%s listening on %s:%d (pid %d)" % (SERVICE, INSTANCE, HOST, PORT, os.getpid()), flush=True)
    httpd.serve_forever(poll_interval=0.2)
    httpd.server_close()
    with busy_lock:
        busy_lock.wait_for(lambda: busy == 0, timeout=10)
    print("%s#%s stopped" % (SERVICE, INSTANCE), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
