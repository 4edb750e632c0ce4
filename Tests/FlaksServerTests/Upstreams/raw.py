"""Raw upstreams for the proxy tests: answers that no HTTP library would send.

Usage: python3 raw.py MODE   (binds 127.0.0.1:0 and prints its port)
  smuggle  every request gets `Content-Length` together with `Transfer-Encoding: chunked`
  twocl    every request gets two different Content-Length fields
  ws       a WebSocket echo server (RFC 6455): text and binary frames echoed, close answered
"""
import base64, hashlib, socket, struct, sys, threading
# Started by a test runner that blocks signals for its signalfd: unblock them, so that a SIGTERM
# ends a copy left behind by a killed test run.
import signal
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

MODE = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
print(srv.getsockname()[1], flush=True)

def read_head(c):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d: return None, b""
        data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin1"), rest

def recv_exact(c, n, buf):
    while len(buf) < n:
        d = c.recv(65536)
        if not d: raise EOFError
        buf += d
    return buf[:n], buf[n:]

def ws(c):
    head, rest = read_head(c)
    if head is None: return
    key = [l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    buf = rest
    while True:
        try:
            h, buf = recv_exact(c, 2, buf)
            op, ln = h[0] & 0x0F, h[1] & 0x7F
            if ln == 126: e, buf = recv_exact(c, 2, buf); ln = struct.unpack(">H", e)[0]
            elif ln == 127: e, buf = recv_exact(c, 8, buf); ln = struct.unpack(">Q", e)[0]
            mask, buf = recv_exact(c, 4, buf) if h[1] & 0x80 else (b"\0\0\0\0", buf)
            payload, buf = recv_exact(c, ln, buf)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        except EOFError:
            return
        if op == 8:
            c.sendall(b"\x88\x00"); return
        hdr = bytes([0x80 | op])
        if len(payload) < 126: hdr += bytes([len(payload)])
        elif len(payload) < 65536: hdr += bytes([126]) + struct.pack(">H", len(payload))
        else: hdr += bytes([127]) + struct.pack(">Q", len(payload))
        c.sendall(hdr + payload)

def bad(c):
    while True:
        head, _ = read_head(c)
        if head is None: return
        if MODE == "smuggle":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")

def serve(c):
    try:
        ws(c) if MODE == "ws" else bad(c)
    except OSError:
        pass
    finally:
        c.close()

while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
