"""A small HTTP/1.1 upstream app for the proxy tests (started by the tests on a loopback port).

GET  /echo[...]         JSON: method, path (raw target), headers (list of pairs), body length and sha256
POST /upload           same as /echo (the body's sha256); ?slow=1 starts after 200 ms and reads it 64 KiB every 2 ms
GET  /big?n=N          N bytes of a deterministic pattern (Content-Length)
GET  /stream?n=N       the same, written 64 KiB at a time (for 1 GiB downloads)
GET  /chunked?n=N      the same pattern, chunked
GET  /slow?ms=M        answers after M ms
GET  /peak             the most /slow requests this server had in progress at once
GET  /sse?count=C&ms=M C events, one every M ms (chunked, text/event-stream)
GET  /status/NNN       that status
GET  /hop              a response carrying hop-by-hop fields (Connection: X-Secret, X-Secret, Keep-Alive)
GET  /healthz          200, or 500 after GET /sick (and 200 again after GET /well)
GET  /conns            how many TCP connections this server has accepted
GET  /whoami           the server's name (argv[2])
Usage: python3 app.py PORT NAME   (PORT 0: any free port, printed; unix:/path: a unix socket)
"""
import hashlib, json, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
# Started by a test runner that blocks signals for its signalfd: unblock them, so that a SIGTERM
# ends a copy left behind by a killed test run.
import signal
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

PORT, NAME = sys.argv[1], sys.argv[2]
state = {"sick": False, "conns": 0}
lock = threading.Lock()

def pattern(n):
    block = bytes(range(256)) * 256
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass

    def setup(self):
        super().setup()
        with lock: state["conns"] += 1

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""): pass
                    return bytes(data)
                data += self.rfile.read(size); self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256(); left = n
        slow = "slow=1" in self.path
        if slow: time.sleep(0.2)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16)); h.update(chunk); left -= len(chunk)
            if slow: time.sleep(0.002)
        return (n, h.hexdigest())

    def send_bytes(self, status, data, ctype="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)

    def echo(self):
        b = self.body()
        if isinstance(b, tuple): n, digest = b
        else: n, digest = len(b), hashlib.sha256(b).hexdigest()
        doc = {"name": NAME, "method": self.command, "path": self.path,
               "headers": [[k, v] for k, v in self.headers.items()], "length": n, "sha256": digest}
        self.send_bytes(200, json.dumps(doc).encode(), "application/json")

    def do_POST(self): self.echo()
    def do_PUT(self): self.echo()
    def do_DELETE(self): self.echo()

    def do_GET(self):
        path, _, query = self.path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path.startswith("/big"):
            self.send_bytes(200, pattern(int(q.get("n", "1024"))))
        elif path.startswith("/stream"):
            # N bytes of the pattern written 64 KiB at a time (never held whole: 1 GiB downloads).
            n = int(q.get("n", "1024")); block = bytes(range(256)) * 256
            self.send_response(200); self.send_header("Content-Length", str(n))
            self.send_header("Content-Type", "application/octet-stream"); self.end_headers()
            while n > 0:
                part = block[:min(n, len(block))]; self.wfile.write(part); n -= len(part)
        elif path.startswith("/chunked"):
            data = pattern(int(q.get("n", "1024")))
            self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for i in range(0, len(data), 65536):
                part = data[i:i + 65536]
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/slow"):
            with lock:
                state["active"] = state.get("active", 0) + 1
                state["peak"] = max(state.get("peak", 0), state["active"])
            time.sleep(int(q.get("ms", "100")) / 1000)
            with lock: state["active"] -= 1
            self.send_bytes(200, b"slow\n", "text/plain")
        elif path == "/peak":
            self.send_bytes(200, str(state.get("peak", 0)).encode(), "text/plain")
        elif path.startswith("/sse"):
            self.send_response(200); self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for i in range(int(q.get("count", "3"))):
                ev = b"data: event %d\n\n" % i
                self.wfile.write(b"%x\r\n" % len(ev) + ev + b"\r\n"); self.wfile.flush()
                time.sleep(int(q.get("ms", "100")) / 1000)
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/status/"):
            self.send_bytes(int(path.split("/")[2]), b"status\n", "text/plain")
        elif path.endswith("/hop"):
            self.send_bytes(200, b"hop\n", "text/plain",
                            [("Connection", "X-Secret"), ("X-Secret", "leaked"), ("Keep-Alive", "timeout=5"), ("X-Kept", "yes")])
        elif path == "/healthz":
            self.send_bytes(500 if state["sick"] else 200, b"health\n", "text/plain")
        elif path == "/sick":
            state["sick"] = True; self.send_bytes(200, b"sick\n", "text/plain")
        elif path == "/well":
            state["sick"] = False; self.send_bytes(200, b"well\n", "text/plain")
        elif path == "/conns":
            self.send_bytes(200, str(state["conns"]).encode(), "text/plain")
        elif path == "/whoami":
            self.send_bytes(200, NAME.encode(), "text/plain")
        else:
            self.echo()

    do_HEAD = do_GET

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
if PORT.startswith("unix:"):
    import os, socketserver
    class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
    class UnixHandler(Handler):
        def address_string(self): return "unix"
    path = PORT[5:]
    if os.path.exists(path): os.unlink(path)
    server = UnixHTTPServer(path, UnixHandler)
    print(0, flush=True)
else:
    server = ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
    print(server.server_address[1], flush=True)
server.serve_forever()
