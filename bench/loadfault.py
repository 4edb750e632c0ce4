#!/usr/bin/env python3
"""Bounded load and fault run against a release Flaks on loopback (run on demand, not in CI).

Phases: baseline -> 10,000 idle keep-alive connections held (RSS per connection; nginx side by side
when installed) -> a flood above max_connections -> clients that reset mid-response -> CGI scripts
that hang, crash or print garbage under load -> SIGHUP every 100 ms during load -> back to idle:
open fds and RSS must return to their baseline, and every answer must be the right one.
Then the services phase (a Flaks of its own): the example service sites/services/hello.py with
2 instances behind `proxy: {service: hello}`, under load from several client threads, (a) its
instances SIGKILLed one at a time (pid read from `handler: status`), then (b) rolled 20 times
(the manifest's `env` edited, SIGHUP); failed requests are counted per phase (goal: none on rolls;
on kills, only requests in flight when an instance was killed).
Usage: python3 bench/loadfault.py [--connections 10000] [--only services] [--binary PATH]
"""
import argparse, json, os, random, resource, shutil, signal, socket, subprocess, sys, tempfile, threading, time

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
    ap.add_argument("--only", choices=["services"], help="run only this phase")
    ap.add_argument("--no-services", action="store_true", help="skip the services phase")
    ap.add_argument("--service-clients", type=int, default=4, help="client threads in the services phase")
    ap.add_argument("--service-pause", type=float, default=0.002,
                    help="seconds each client waits between requests in the services phase")
    ap.add_argument("--service-slow", type=float, default=0.25,
                    help="seconds the last client's requests take in the app (0: none slow)")
    ap.add_argument("--kills", type=int, default=6, help="instances SIGKILLed in the services phase")
    ap.add_argument("--rolls", type=int, default=20, help="rolls in the services phase")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.connections * 2 + 1000, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if not args.binary:
        args.binary = subprocess.run([os.path.join(ROOT, "scripts/build-release.sh")], cwd=ROOT, check=True,
                                     stdout=subprocess.PIPE, text=True).stdout.strip()
    if args.only == "services":
        services_phase(args)
        print(f"{len(FAILS)} failed" if FAILS else "all checks passed")
        sys.exit(1 if FAILS else 0)
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
    if not args.no_services:
        services_phase(args)
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

# ---- services: kills and rolls under load ------------------------------------------------------

def service_manifest(path, port, version):
    """The services phase's manifest: hello.py (2 instances) on /api/, status on /status."""
    app = os.path.join(ROOT, "sites", "services", "hello.py")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"""server: {{listen: ["127.0.0.1:{port}"], loops: 2, threads: 4, drain_timeout: 5s}}
log: {{access: off, level: info}}
services:
  - name: hello
    command: ["python3", "{app}"]
    env: {{GREETING: "v{version}"}}
    instances: 2
    ready: /healthz
    ready_timeout: 10s
    stop_timeout: 5s
hosts:
  - names: ["*"]
    routes:
      - path: /api/
        proxy: {{service: hello, strip_prefix: true}}
      - path: /status
        handler: status
""")
    os.rename(tmp, path)  # as editors and ConfigMap updates replace a file

def service_instances(port):
    """hello's instances in /status: a list of dicts (pid, state, generation, in_flight...)."""
    st, body = request(port, "/status", timeout=5)
    if st != 200:
        return []
    return json.loads(body).get("services", {}).get("hello", {}).get("instances", [])

def ready_instances(port):
    return [i for i in service_instances(port) if i["state"] == "ready"]

class ServiceLoad:
    """Client threads looping GET /api/ on fresh connections; every request is recorded as
    (start, end, ok, detail, greeting version, pid) so failures can be set against kill times."""
    def __init__(self, port, clients, pause, slow):
        self.port, self.pause = port, pause
        self.stop = threading.Event()
        self.records = [[] for _ in range(clients)]
        # The last client asks for slow answers (/slow?s=...), so that kills and rolls meet
        # requests in flight on the instance.
        self.paths = ["/api/"] * (clients - 1) + [f"/api/slow?s={slow}" if slow else "/api/"]
        self.threads = [threading.Thread(target=self.loop, args=(k,), daemon=True) for k in range(clients)]

    def loop(self, k):
        out = self.records[k]
        path = self.paths[k]
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                st, body = request(self.port, path, timeout=15)
                if st == 200:
                    v = json.loads(body)
                    out.append((t0, time.monotonic(), True, "", int(v["greeting"][1:]), v["pid"]))
                else:
                    out.append((t0, time.monotonic(), False, f"status {st}: {body[:60]!r}", None, None))
            except (OSError, ValueError, KeyError) as e:
                out.append((t0, time.monotonic(), False, repr(e)[:80], None, None))
            if self.pause:
                time.sleep(self.pause)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)

def wait_for(pred, seconds, step=0.05):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None

def services_phase(args):
    print("services: hello.py x2 behind proxy: {service: hello}; "
          f"{args.service_clients} client threads (one asking for {args.service_slow} s answers), "
          f"{args.kills} kills, {args.rolls} rolls")
    work = tempfile.mkdtemp(prefix="flaks-loadfault-svc-")
    port = 18282
    cfg = os.path.join(work, "config.yaml")
    service_manifest(cfg, port, 0)
    errlog_path = os.path.join(work, "error.log")
    errlog = open(errlog_path, "w")
    server = subprocess.Popen([args.binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=errlog)
    seen = set()  # every instance pid seen, to check none is left at the end
    load = None
    try:
        if not wait_port(port):
            check("services: server starts", False); return
        ready = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(ready_instances(port)), 15)
        check("services: 2 instances ready", bool(ready))
        if not ready:
            return
        seen.update(i["pid"] for i in ready)
        load = ServiceLoad(port, args.service_clients, args.service_pause, args.service_slow)
        load.start()

        # Steady: load alone, nothing happens to the service.
        t_steady = time.monotonic()
        time.sleep(3)

        # (a) Kills: SIGKILL one ready instance (alternating), wait until 2 are ready again.
        t_kills = time.monotonic()
        kills = []  # (time, pid, port, in_flight seen in status just before)
        for k in range(args.kills):
            insts = sorted(ready_instances(port), key=lambda i: i["instance"])
            if not insts:
                check("services: a ready instance to kill", False); break
            victim = insts[k % len(insts)]
            seen.add(victim["pid"])
            kt = time.monotonic()
            try:
                os.kill(victim["pid"], signal.SIGKILL)
            except ProcessLookupError:
                continue
            kills.append((kt, victim["pid"], victim["port"], victim.get("in_flight", 0)))
            back = wait_for(lambda: (lambda r: r if len(r) == 2 and victim["pid"] not in [i["pid"] for i in r] else None)(
                ready_instances(port)), 15)
            if back:
                seen.update(i["pid"] for i in back)
            else:
                check(f"services: kill {k + 1}: 2 instances ready again within 15 s", False)
            time.sleep(1.0)

        # (b) Rolls: GREETING v1..vN, SIGHUP, wait until only the new generation is listed, ready.
        t_rolls = time.monotonic()
        roll_times = []
        for v in range(1, args.rolls + 1):
            before = max((i["generation"] for i in service_instances(port)), default=0)
            rt = time.monotonic()
            service_manifest(cfg, port, v)
            server.send_signal(signal.SIGHUP)
            done = wait_for(lambda: (lambda r: r if len(r) == 2 and all(i["state"] == "ready" and i["generation"] > before for i in r) else None)(
                service_instances(port)), 20)
            if not done:
                check(f"services: roll {v}: the new instances alone and ready within 20 s", False,
                      json.dumps(service_instances(port)))
                break
            seen.update(i["pid"] for i in done)
            roll_times.append(time.monotonic() - rt)
            time.sleep(0.3)
        time.sleep(1)
        t_end = time.monotonic()
        load.finish()
        load_ = load
        load = None

        # Each request counts in the phase in which it ended (a request in flight when a phase
        # began was exposed to what that phase did).
        def phase(a, b):
            return [r for rs in load_.records for r in rs if a <= r[1] < b]

        steady = phase(t_steady, t_kills)
        sfail = [r for r in steady if not r[2]]
        print(f"   steady 3 s: {len(steady)} requests ({len(steady) / 3:.0f}/s), {len(sfail)} failed")
        check("services: no failure under steady load", not sfail, str([r[3] for r in sfail[:3]]))

        recs = phase(t_kills, t_rolls)
        failed = [r for r in recs if not r[2]]
        per_kill = [sum(1 for r in failed if r[0] <= kt <= r[1]) for kt, _, _, _ in kills]
        at_kill = [r for r in failed if any(r[0] <= kt <= r[1] for kt, _, _, _ in kills)]
        print(f"   kills: {len(kills)} SIGKILLs; {len(recs)} requests, {len(failed)} failed "
              f"({len(at_kill)} of them in flight at a kill; failures per kill {per_kill})")
        # What became of the requests in flight at each kill: answered by the victim (its answer
        # was on its way), answered by the other instance (routed there, or tried again there), failed.
        for (kt, pid, vport, inflight), n in zip(kills, per_kill):
            over = [r for r in recs if r[0] <= kt <= r[1]]
            by_victim = sum(1 for r in over if r[2] and r[5] == pid)
            elsewhere = [r for r in over if r[2] and r[5] != pid]
            # A slow request that took well over its time was begun on the victim, then tried again.
            again = [f"{r[1] - r[0]:.2f}s" for r in elsewhere if args.service_slow and r[1] - r[0] > 1.6 * args.service_slow]
            print(f"      kill of pid {pid} (port {vport}; in_flight {inflight} in status just before): "
                  f"{len(over)} requests in flight: {by_victim} answered by it, {len(elsewhere)} by the other "
                  f"instance{f' ({len(again)} slow one(s) taking {again}: begun on the victim, tried again)' if again else ''}, "
                  f"{n} failed")
        for r in failed[:5]:
            print(f"      failed: {r[3]}")
        check("services: kills: every failure was in flight at a kill", len(at_kill) == len(failed),
              f"{len(failed) - len(at_kill)} others")
        # The proxy names the instance a failed request was on: it must be one that was killed.
        with open(errlog_path) as f:
            log_lines = f.read().splitlines()
        victim_ports = {vport for _, _, vport, _ in kills}
        proxy_errors = [l for l in log_lines if " error flaks: proxy" in l]
        ports = [int(l.split("http://127.0.0.1:")[1].split(":")[0]) for l in proxy_errors if "http://127.0.0.1:" in l]
        check("services: kills: the proxy's error lines name only killed instances",
              len(ports) == len(proxy_errors) and all(p in victim_ports for p in ports),
              f"{len(proxy_errors)} lines, ports {ports}, killed {sorted(victim_ports)}")

        recs = phase(t_rolls, t_end)
        failed = [r for r in recs if not r[2]]
        # Per client, the greeting version never goes back once a newer one was seen.
        back = 0
        for rs in load_.records:
            hi = -1
            for r in rs:
                if r[2] and t_rolls <= r[1] < t_end:
                    if r[4] < hi:
                        back += 1
                    hi = max(hi, r[4])
        rt = sorted(roll_times)
        if rt:
            print(f"   rolls: {len(rt)} rolls (each {rt[0]:.2f}-{rt[-1]:.2f} s, median {rt[len(rt) // 2]:.2f} s, "
                  f"SIGHUP until only the new instances are listed); {len(recs)} requests, {len(failed)} failed; "
                  f"{back} answers from an older version after a newer one")
        for r in failed[:5]:
            print(f"      failed: {r[3]}")
        check("services: rolls: no failed request", not failed, str([r[3] for r in failed[:3]]))
        check("services: rolls: every one completed", len(roll_times) == args.rolls, f"{len(roll_times)} of {args.rolls}")
        check("services: rolls: no client saw an older version after a newer one", back == 0, str(back))
        check("services: server still running", server.poll() is None)
        zombies = [p for p in os.listdir("/proc") if p.isdigit() and _is_zombie_child(p, server.pid)]
        check("services: no zombie children", not zombies, str(zombies))
    finally:
        if load:
            load.finish()
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(20)
            check("services: SIGTERM: exit 0", rc == 0, f"rc={rc}")
        except subprocess.TimeoutExpired:
            server.kill(); server.wait(5); check("services: SIGTERM: exit in time", False)
        alive = [p for p in seen if _alive(p)]
        check("services: no instance left after SIGTERM", not alive, str(alive))
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        errlog.close()
        with open(errlog_path) as f:
            text = f.read()
        lines = text.splitlines()
        stalled = [l for l in lines if "roll stalled" in l]
        proxy_errors = [l for l in lines if " error flaks: proxy" in l]
        retries = [l for l in lines if "retrying on a new connection" in l]
        print(f"   error log: {len(proxy_errors)} proxy error lines, {len(retries)} retries of a kept connection, "
              f"{len(stalled)} stalled rolls, {text.count('rolled to generation')} rolls completed"
              + (f" ({errlog_path} kept)" if os.environ.get("LOADFAULT_KEEP") else ""))
        for l in (stalled + proxy_errors)[:6]:
            print("      " + l)
        if not os.environ.get("LOADFAULT_KEEP"):
            shutil.rmtree(work, ignore_errors=True)

def _alive(pid):
    """True when pid runs (a zombie or a reused pid of another program counts as gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"hello.py" in f.read()
    except OSError:
        return False

if __name__ == "__main__":
    main()
