#!/usr/bin/env python3
"""Which parts of a running process's executable are resident, by module.

    bench/resident.py PID [BINARY]

Reads /proc/PID/maps and /proc/PID/pagemap (present bit), maps each resident page of the
executable to the symbols it holds (nm -n) and sums pages by Swift module or C library
prefix. Also prints the resident KiB of every other mapping. Run on demand (needs the same
user as the server, or root); loopback only does not matter here, nothing is sent.
"""
import os, re, struct, subprocess, sys, collections

pid = int(sys.argv[1])
exe = sys.argv[2] if len(sys.argv) > 2 else os.readlink(f"/proc/{pid}/exe")
PAGE = os.sysconf("SC_PAGE_SIZE")

maps = []
for line in open(f"/proc/{pid}/maps"):
    parts = line.split()
    lo, hi = (int(x, 16) for x in parts[0].split("-"))
    off = int(parts[2], 16)
    name = parts[5] if len(parts) > 5 else ""
    maps.append((lo, hi, off, name, parts[1]))

pm = open(f"/proc/{pid}/pagemap", "rb")
def resident(lo, hi):
    pm.seek(lo // PAGE * 8)
    data = pm.read((hi - lo) // PAGE * 8)
    out = []
    for i in range(len(data) // 8):
        (v,) = struct.unpack_from("<Q", data, i * 8)
        if v >> 63 & 1: out.append(lo + i * PAGE)
    return out

# Load base of the executable: the mapping with file offset 0.
base = min(lo for lo, hi, off, name, _ in maps if name == exe and off == 0)
syms = []
for line in subprocess.run(["nm", "-n", "--defined-only", exe], capture_output=True, text=True).stdout.splitlines():
    p = line.split(maxsplit=2)
    if len(p) == 3:
        syms.append((int(p[0], 16), p[2]))
addrs = [a for a, _ in syms]

def module(sym):
    m = re.match(r"_?\$s(\d+)", sym)
    if m:
        n = int(m.group(1)); rest = sym[m.end():]
        return rest[:n]
    for pre, mod in (("icu_", "ICU"), ("u_", "ICU"), ("ucnv", "ICU"), ("icudt", "ICU data"), ("uprv_", "ICU"), ("ures_", "ICU"), ("ucol", "ICU"),
                     ("__CF", "CoreFoundation"), ("CF", "CoreFoundation"), ("_CF", "CoreFoundation"), ("yaml_", "libyaml"),
                     ("swift_", "swift runtime"), ("_swift", "swift runtime"), ("dispatch_", "libdispatch"), ("_dispatch", "libdispatch"),
                     ("_ZN5swift", "swift runtime"), ("_ZNSt", "libstdc++"), ("_ZSt", "libstdc++")):
        if sym.startswith(pre): return mod
    if sym.startswith("$s") or sym.startswith("_$s"): return "swift?"
    return "other C"

import bisect
by_mod = collections.Counter()
for lo, hi, off, name, perm in maps:
    if name != exe: continue
    for page in resident(lo, hi):
        v = page - base
        i = bisect.bisect_right(addrs, v) - 1
        j = bisect.bisect_left(addrs, v + PAGE)
        mods = collections.Counter(module(syms[k][1]) for k in range(max(i, 0), max(j, i + 1)))
        top = mods.most_common(1)[0][0] if mods else "?"
        by_mod[(top, perm)] += PAGE // 1024
total = sum(by_mod.values())
print(f"executable {exe}: {total} KiB resident")
for (m, perm), kib in by_mod.most_common(40):
    print(f"  {kib:7d} KiB  {perm}  {m}")
other = collections.Counter()
for lo, hi, off, name, perm in maps:
    if name == exe: continue
    other[name or "[anon]"] += len(resident(lo, hi)) * PAGE // 1024
print("other mappings:")
for n, kib in other.most_common(15):
    if kib: print(f"  {kib:7d} KiB  {n}")
