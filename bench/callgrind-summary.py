#!/usr/bin/env python3
"""Sums callgrind output files (PREFIX.* : one per dump/thread) into per-request figures.

Usage: callgrind-summary.py PREFIX REQUESTS [--mallocs]
Prints instructions per request (own cost of every function), reference-counting calls per
request (and, with --mallocs, malloc/swift_slowAlloc calls), then the TOP (env, default 15)
functions with the most instructions of their own, demangled. Used by bench/instructions.sh and
bench/proxy-instructions.sh.
"""
import collections, glob, os, re, subprocess, sys

prefix, n = sys.argv[1], int(sys.argv[2])
names, own, calls = {}, collections.Counter(), collections.Counter()
cur = cfn = None
after_call = False
for path in glob.glob(prefix + ".*"):
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, i, name = m.groups()
            if name:
                names[i] = name
            if kind == "fn":
                cur = i
            else:
                cfn = i
            continue
        if line.startswith("calls="):
            after_call = True
            calls[cfn] += int(line.split("=")[1].split()[0])
            continue
        parts = line.split()
        if len(parts) >= 2 and (line[0].isdigit() or line[0] in "+-*"):
            if after_call:
                after_call = False
            else:
                own[cur] += int(parts[1])

def count(fns):
    return sum(v for k, v in calls.items() if names.get(k, "") in fns)

rc = count(("swift_retain", "swift_release", "swift_bridgeObjectRetain", "swift_bridgeObjectRelease"))
line = f"{sum(own.values()) // n} instructions per request, {rc / n:.0f} reference-counting calls"
if "--mallocs" in sys.argv:
    line += f", {count(('malloc', 'swift_slowAlloc')) / n:.1f} malloc/swift_slowAlloc calls"
print(f"{line} per request ({n} requests)")

def demangle(s):
    try:
        return subprocess.run(["swift", "demangle", "--simplified", "--compact", s],
                              capture_output=True, text=True).stdout.strip() or s
    except OSError:
        return s

for k, v in own.most_common(int(os.environ.get("TOP", "15"))):
    print(f"  {v // n:6d}  {demangle(names.get(k, k))[:110]}")
