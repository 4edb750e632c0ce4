#!/usr/bin/env python3
"""Bounded load and fault run against a release Flaks on loopback (run on demand, not in CI).

Phases: baseline -> 10,000 idle keep-alive connections held (RSS per connection; nginx side by side
when installed) -> a flood above max_connections -> clients that reset mid-response -> CGI scripts
that hang, crash or print garbage under load -> SIGHUP every 100 ms during load -> back to idle:
open fds and RSS must return to their baseline, and every answer must be the right one.
Usage: python3 bench/loadfault.py [--connections 10000]
"""
import argparse, os, random, resource, shutil, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILS = []

def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""), flush=True)
    if not ok:
        FAILS.append(name)

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

def wait_port(port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False

def request(port, path, host="x", timeout=5.0):
    """One request on a fresh connection; returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, body

def hold_idle(port, n):
    """Opens n connections, sends one request on each, reads the answer, keeps them open."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    for s in socks:
        s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    bad = 0
    for s in socks:
        s.settimeout(10)
        data = b""
        while b"\r\n\r\nsmall" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.endswith(b"small"):
            bad += 1
    return socks, bad

def manifest(dirpath, port, max_conn):
    cgi = os.path.join(dirpath, "cgi")
    os.makedirs(cgi, exist_ok=True)
    scripts = {
        "ok.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
        "hang.sh": "#!/bin/sh\nsleep 30\n",
        "crash.sh": "#!/bin/sh\nkill -SEGV $$\n",
        "garbage.sh": "#!/bin/sh\nprintf 'this is not a header\\n\\nbody'\n",
    }
    for name, text in scripts.items():
        p = os.path.join(cgi, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o755)
    with open(os.path.join(dirpath, "big.bin"), "wb") as f:
        f.write(os.urandom(4 * 1024 * 1024))
    path = os.path.join(dirpath, "config.yaml")
    with open(path, "w") as f:
        f.write(f"""server: {{listen: ["127.0.0.1:{port}"], loops: 1, threads: 4, max_connections: {max_conn}, idle_release: 2s}}
limits: {{keepalive_timeout: 10m, header_timeout: 10m}}
cgi: {{timeout: 2s, max_processes: 16}}
log: {{access: off, level: error}}
hosts:
  - names: ["*"]
    routes:
      - path: /small
        respond: "small"
      - path: /files/
        static: {dirpath}
      - path: /cgi/
        cgi: {cgi}
""")
    return path

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--binary", help="default: the image's build (scripts/build-release.sh)")
    ap.add_argument("--no-hup", action="store_true", help="skip the SIGHUPs in the fault phase")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.connections * 2 + 1000, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if not args.binary:
        args.binary = subprocess.run([os.path.join(ROOT, "scripts/build-release.sh")], cwd=ROOT, check=True,
                                     stdout=subprocess.PIPE, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="flaks-loadfault-")
    port = 18280
    cfg = manifest(work, port, args.connections + 100)
    errlog = open(os.path.join(work, "error.log"), "w")
    server = subprocess.Popen([args.binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=errlog)
    try:
        if not wait_port(port):
            print("server did not start"); sys.exit(1)
        start_rss = rss_kib(server.pid)
        request(port, "/small")
        time.sleep(0.5)
        busy_rss = rss_kib(server.pid)
        time.sleep(3)  # idle_release: 2s
        base_rss, base_fds = rss_kib(server.pid), fd_count(server.pid)
        print(f"baseline: RSS {start_rss} KiB after start, {busy_rss} KiB after a request, "
              f"{base_rss} KiB idle (idle_release: 2s); {base_fds} fds")
        check("idle RSS under 8 MiB", base_rss < 8 * 1024, f"{base_rss} KiB")

        # 1. Idle keep-alive connections.
        t0 = time.time()
        socks, bad = hold_idle(port, args.connections)
        time.sleep(1)
        rss = rss_kib(server.pid)
        per = (rss - base_rss) * 1024 / args.connections
        print(f"{args.connections} idle keep-alive connections held in {time.time() - t0:.1f}s: RSS {rss} KiB, {per:.0f} bytes per connection")
        check("every held connection answered", bad == 0, f"{bad} bad")
        check("RSS per idle connection at most 2 KiB", per <= 2048, f"{per:.0f} B")
        check("server answers while holding them", request(port, "/small") == (200, b"small"))
        for s in socks:
            s.close()
        socks = []

        # 2. Flood above max_connections (set to connections+100): the extra ones are closed, nothing breaks.
        flood, _ = hold_idle(port, 100)
        extra_ok = 0
        extras = []
        for i in range(args.connections + 500 - 100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                extras.append(s)
            except OSError:
                pass
        for s in extras[:2000]:
            try:
                s.settimeout(2)
                s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    extra_ok += 1
            except OSError:
                pass
        for s in flood + extras:
            s.close()
        time.sleep(0.5)
        check("flood above max_connections: server alive and answering", request(port, "/small") == (200, b"small"))
        print(f"   ({len(extras)} extra connections attempted; {extra_ok} of the first 2000 got answers while at the limit)")

        # 3. Clients that reset mid-response (4 MiB file, SO_LINGER 0 close after a few bytes).
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        check("resets mid-response: server answers", request(port, "/small") == (200, b"small"))

        # 4 + 5. CGI faults and SIGHUP every 100 ms under load, with answers checked.
        stop = threading.Event()
        wrong = []
        counts = {"ok": 0}
        def client(paths):
            while not stop.is_set():
                p = random.choice(paths)
                try:
                    st, body = request(port, p, timeout=10)
                except OSError as e:
                    wrong.append((p, repr(e))); continue
                expect = {"/small": (200, b"small"), "/cgi/ok.sh": (200, b"ok\n"),
                          "/cgi/crash.sh": (502, None), "/cgi/garbage.sh": (502, None), "/cgi/hang.sh": (504, None)}[p]
                if st != expect[0] or (expect[1] is not None and body != expect[1]):
                    wrong.append((p, st, body[:40]))
                else:
                    counts["ok"] += 1
        threads = [threading.Thread(target=client, args=(["/small", "/small", "/cgi/ok.sh", "/cgi/crash.sh", "/cgi/garbage.sh"],)) for _ in range(6)]
        threads.append(threading.Thread(target=client, args=(["/cgi/hang.sh"],)))
        for t in threads:
            t.start()
        hups = 0
        end = time.time() + 8
        while time.time() < end:
            if not args.no_hup:
                server.send_signal(signal.SIGHUP)
                hups += 1
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(20)
        print(f"   load with CGI faults and {hups} SIGHUPs: {counts['ok']} right answers, {len(wrong)} wrong")
        check("no wrong answer under load, CGI faults and SIGHUPs", not wrong, str(wrong[:3]))
        check("server still running", server.poll() is None)

        # 6. Back to idle: fds and RSS near baseline.
        time.sleep(4)
        fds, rss = fd_count(server.pid), rss_kib(server.pid)
        print(f"after: RSS {rss} KiB (baseline {base_rss}), {fds} fds (baseline {base_fds})")
        check("open fds back to baseline", fds <= base_fds, f"{fds} vs {base_fds}")
        check("RSS back near baseline (within 4 MiB)", rss - base_rss < 4096, f"+{rss - base_rss} KiB")
        check("idle RSS after all of the above under 8 MiB", rss < 8 * 1024, f"{rss} KiB")
        zombies = [p for p in os.listdir("/proc") if p.isdigit() and _is_zombie_child(p, server.pid)]
        check("no zombie CGI children", not zombies, str(zombies))

        if shutil.which("nginx"):
            nginx_per_conn(args.connections)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(15)
            check("SIGTERM: exit 0", rc == 0, f"rc={rc}")
        except subprocess.TimeoutExpired:
            server.kill(); check("SIGTERM: exit in time", False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(FAILS)} failed" if FAILS else "all checks passed")
    sys.exit(1 if FAILS else 0)

def _is_zombie_child(pid, parent):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return parts[0] == "Z" and int(parts[1]) == parent
    except OSError:
        return False

def nginx_per_conn(n):
    work = tempfile.mkdtemp(prefix="flaks-nginx-")
    port = 18281
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; master_process off; pid {work}/nginx.pid;
error_log {work}/error.log error; worker_rlimit_nofile {n * 2 + 100};
events {{ worker_connections {n + 100}; }}
http {{ access_log off; keepalive_timeout 600; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location /small {{ return 200 "small"; }} }} }}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-e", f"{work}/error.log"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        request(port, "/small")
        time.sleep(0.3)
        base = rss_kib(p.pid)
        socks, _ = hold_idle(port, n)
        time.sleep(1)
        rss = rss_kib(p.pid)
        print(f"nginx: baseline RSS {base} KiB; with {n} idle connections {rss} KiB: {(rss - base) * 1024 / n:.0f} bytes per connection")
        for s in socks:
            s.close()
    finally:
        p.terminate(); p.wait(10)
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
