#!/usr/bin/env python3
"""Differential test of Flaks' request and response parsers against llhttp (Node's parser, via httptools).

Generates a deterministic corpus of valid and malicious HTTP/1.1 requests, runs every case through
llhttp (httptools.HttpRequestParser) and through Flaks (the ParseDump executable, length-prefixed
stream on stdin), and compares the items below. The response side (cases named `response/...`,
Flaks' ResponseParser against httptools.HttpResponseParser) lives in responses.py and is compared the
same way; `--mode` picks one side, the default runs both. For requests it compares:

  * the outcome: "accepted" (every request complete), "rejected" (a parse error), or "incomplete"
    (no error, but the input ends inside a request);
  * for the requests both parsers completed: method, target, version, header fields (ordered
    name/value pairs), body (de-chunked) and keep-alive.

Normalisations (not differences; see docs/parser-differences.md#how-the-comparison-works):
  * llhttp hands over a field value with its trailing whitespace; RFC 9112 §5 makes that OWS not part
    of the value, so it is stripped before comparing. Values are compared as UTF-8 with U+FFFD for
    invalid sequences, which is how Flaks stores them.
  * When llhttp stops at an upgrade (CONNECT, or `Upgrade` with `Connection: upgrade`), the bytes
    after that request are not HTTP for it; only the requests it completed are compared, and Flaks'
    verdict on the remaining bytes is ignored.

Every disagreement must match an entry of known-differences.json (case-name glob, optionally the
two outcomes) that points at the section of docs/parser-differences.md justifying Flaks' answer.
Exit status: 0 when every disagreement is listed and every listed entry still matches one;
1 otherwise (unlisted disagreement, stale entry, or a broken doc anchor); 2 on a usage/setup error.
"""

import argparse
import fnmatch
import json
import os
import random
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SEED = 20261129

# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
UNRESERVED = ALNUM + "-._~"
SUB_DELIMS = "!$&'()*+,;="
PCHAR = UNRESERVED + SUB_DELIMS + ":@"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
FLAKS_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
COMMON_NAMES = ["Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Cookie", "Referer",
                "Cache-Control", "If-None-Match", "If-Modified-Since", "Authorization", "X-Forwarded-For",
                "X-Request-Id", "Origin", "Pragma", "DNT", "Range", "Content-Type", "TE", "Via", "Forwarded"]


class Corpus:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.cases = []          # (name, bytes)
        self.names = set()

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        assert name not in self.names, name
        self.names.add(name)
        self.cases.append((name, data))

    # --- building blocks -------------------------------------------------------------------
    def word(self, alphabet, lo, hi):
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(lo, hi)))

    def pct(self):
        return "%" + self.rng.choice("0123456789ABCDEFabcdef") + self.rng.choice("0123456789ABCDEF")

    def segment(self):
        s = ""
        for _ in range(self.rng.randint(0, 8)):
            s += self.pct() if self.rng.random() < 0.1 else self.rng.choice(PCHAR)
        return s

    def origin_target(self):
        path = "/" + "/".join(self.segment() for _ in range(self.rng.randint(0, 4)))
        if self.rng.random() < 0.4:
            path += "?" + "".join(self.rng.choice(PCHAR + "/?") for _ in range(self.rng.randint(0, 20)))
        return path

    def host(self):
        r = self.rng.random()
        if r < 0.6:
            h = ".".join(self.word("abcdefghijklmnopqrstuvwxyz0123456789-", 1, 10) for _ in range(self.rng.randint(1, 3)))
        elif r < 0.8:
            h = ".".join(str(self.rng.randint(0, 255)) for _ in range(4))
        else:
            h = "[" + ":".join("%x" % self.rng.randint(0, 0xFFFF) for _ in range(self.rng.choice([3, 8]))) + "]"
        if self.rng.random() < 0.4:
            h += ":" + str(self.rng.randint(1, 65535))
        return h

    def absolute_target(self):
        scheme = self.rng.choice(["http", "https", "HTTP", "Https"])
        t = scheme + "://" + self.host()
        if self.rng.random() < 0.85:
            t += self.origin_target()
        return t

    def field_value(self, allow_obs_text=False):
        """A valid field value: VCHARs with inner SP/HTAB, no leading/trailing whitespace."""
        n = self.rng.randint(0, 40)
        chars = []
        for _ in range(n):
            r = self.rng.random()
            if r < 0.1:
                chars.append(self.rng.choice(" \t"))
            elif allow_obs_text and r < 0.25:
                chars.append(chr(self.rng.randint(0x80, 0xFF)))
            else:
                chars.append(self.rng.choice(VCHAR))
        return "".join(chars).strip(" \t")

    def ows(self):
        return self.rng.choice(["", " ", " ", " ", "  ", "\t", " \t "])

    def field_name(self):
        if self.rng.random() < 0.5:
            n = self.rng.choice(COMMON_NAMES)
            return self.rng.choice([n, n.lower(), n.upper()])
        return self.word(TCHAR, 1, 24)

    def random_fields(self, lo=0, hi=8, obs_text=False):
        out = []
        for _ in range(self.rng.randint(lo, hi)):
            name = self.field_name()
            if name.lower() in ("host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"):
                name = "X-" + name
            out.append((name, self.field_value(obs_text)))
        return out

    def chunked_body(self, data, ext=False, trailers=False, upper=False, zeros=False):
        out, i = "", 0
        while i < len(data):
            n = min(len(data) - i, self.rng.randint(1, 64))
            size = "%x" % n
            if upper and self.rng.random() < 0.5:
                size = size.upper()
            if zeros and self.rng.random() < 0.5:
                size = "0" * self.rng.randint(1, 16 - len(size)) + size
            out += size + (self.chunk_ext() if ext and self.rng.random() < 0.5 else "") + "\r\n"
            out += data[i:i + n] + "\r\n"
            i += n
        out += ("0" * self.rng.randint(1, 3) if zeros else "0") + (self.chunk_ext() if ext and self.rng.random() < 0.5 else "") + "\r\n"
        if trailers:
            for _ in range(self.rng.randint(1, 3)):
                out += self.word(TCHAR, 1, 12) + ":" + self.ows() + self.field_value() + "\r\n"
        return out + "\r\n"

    def chunk_ext(self):
        """Extensions without BWS (llhttp rejects BWS; that is a separate family)."""
        out = ""
        for _ in range(self.rng.randint(1, 3)):
            out += ";" + self.word(TCHAR, 1, 8)
            r = self.rng.random()
            if r < 0.4:
                out += "=" + self.word(TCHAR, 1, 8)
            elif r < 0.7:
                out += '="' + self.word(ALNUM + " !#$%&'()*+,-./:;<=>?@[]^_`{|}~", 0, 10) + '"'
        return out

    def body_bytes(self, lo=0, hi=300):
        # Latin-1 text so the case stays a str until add(); any byte value may appear.
        return "".join(chr(self.rng.randint(0, 255)) for _ in range(self.rng.randint(lo, hi)))

    @staticmethod
    def request(method="GET", target="/", version="HTTP/1.1", fields=(("Host", "a"),), body=""):
        head = "%s %s %s\r\n" % (method, target, version)
        for n, v in fields:
            head += "%s: %s\r\n" % (n, v)
        return head + "\r\n" + body

    def valid_request(self):
        """One random valid request (any family), as a str."""
        kind = self.rng.random()
        fields = [("Host", self.host())] + self.random_fields(0, 5)
        self.rng.shuffle(fields)
        method = self.rng.choice(FLAKS_METHODS)
        if kind < 0.4:
            return self.request(method, self.origin_target(), fields=fields)
        if kind < 0.7:
            body = self.body_bytes(0, 100)
            return self.request(self.rng.choice(["POST", "PUT", "PATCH"]), self.origin_target(),
                                fields=fields + [("Content-Length", str(len(body)))], body=body)
        body = self.body_bytes(0, 150)
        return self.request(self.rng.choice(["POST", "PUT"]), self.origin_target(),
                            fields=fields + [("Transfer-Encoding", "chunked")],
                            body=self.chunked_body(body, ext=self.rng.random() < 0.3,
                                                   trailers=self.rng.random() < 0.3))

    # --- valid families --------------------------------------------------------------------
    def valid(self):
        R, rq = self.rng, self.request
        for m in FLAKS_METHODS:
            for i in range(15):
                self.add("valid/method/%s/%d" % (m, i), rq(m, self.origin_target(), fields=[("Host", self.host())]))
        for i in range(150):
            self.add("valid/target/origin/%d" % i, rq("GET", self.origin_target()))
        for i in range(60):
            t = self.absolute_target()
            host = t.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
            self.add("valid/target/absolute/%d" % i, rq(R.choice(["GET", "HEAD", "POST"]), t, fields=[("Host", host)]))
        for i in range(5):
            self.add("valid/target/asterisk/%d" % i, rq("OPTIONS", "*", fields=[("Host", self.host())] + self.random_fields(0, 3)))
        for i in range(300):
            fields = [("Host", self.host())] + self.random_fields(0, 12)
            R.shuffle(fields)
            head = "GET %s HTTP/1.1\r\n" % self.origin_target()
            for n, v in fields:
                head += n + ":" + self.ows() + v + self.ows() + "\r\n"
            self.add("valid/fields/%d" % i, head + "\r\n")
        for i in range(10):
            self.add("valid/fields/many/%d" % i, rq(fields=[("Host", "a")] + [("X-H%d" % k, self.field_value()) for k in range(R.randint(40, 90))]))
        for i in range(30):
            self.add("valid/fields/obs-text/%d" % i, rq(fields=[("Host", "a")] + self.random_fields(1, 4, obs_text=True)))
        for i in range(10):
            self.add("valid/fields/empty-value/%d" % i, rq(fields=[("Host", "a"), (self.word(TCHAR, 1, 10), self.rng.choice(["", " ", "\t"]))]))
        for i in range(150):
            body = self.body_bytes(0, 300)
            cl = str(len(body))
            if R.random() < 0.15:
                cl = "0" * R.randint(1, 3) + cl
            fields = [("Host", self.host()), ("Content-Length", cl)] + self.random_fields(0, 4)
            R.shuffle(fields)
            self.add("valid/content-length/%d" % i, rq(R.choice(["POST", "PUT", "PATCH", "DELETE", "GET"]), self.origin_target(), fields=fields, body=body))
        for i in range(250):
            body = self.body_bytes(0, 400)
            te = R.choice(["chunked", "chunked", "Chunked", "CHUNKED"])
            fields = [("Host", self.host()), ("Transfer-Encoding", te)] + self.random_fields(0, 4)
            R.shuffle(fields)
            self.add("valid/chunked/%d" % i, rq(R.choice(["POST", "PUT"]), self.origin_target(), fields=fields,
                                                body=self.chunked_body(body, ext=R.random() < 0.4, trailers=R.random() < 0.4,
                                                                       upper=R.random() < 0.5, zeros=R.random() < 0.2)))
        for i in range(200):
            self.add("valid/pipeline/%d" % i, "".join(self.valid_request() for _ in range(R.randint(2, 3))))
        for i in range(40):
            body = self.body_bytes(0, 50)
            conn = R.choice(["keep-alive", "Keep-Alive", "KEEP-ALIVE", "foo, keep-alive", "keep-alive, bar"])
            first = rq(R.choice(["GET", "POST"]), self.origin_target(), "HTTP/1.0",
                       fields=[("Connection", conn), ("Content-Length", str(len(body)))] + ([("Host", "a")] if R.random() < 0.5 else []), body=body)
            self.add("valid/http10/keep-alive/%d" % i, first + rq("GET", self.origin_target()))
        for i in range(20):
            fields = [("Host", "a")] if R.random() < 0.5 else []
            self.add("valid/http10/close/%d" % i, rq("GET", self.origin_target(), "HTTP/1.0", fields=fields + self.random_fields(0, 3)))
        for i, conn in enumerate(["close", "Close", "CLOSE", "keep-alive", "keep-alive, close", "close, keep-alive",
                                  "upgradex", "te, close", "foo", " close ", "Keep-Alive"]):
            self.add("valid/connection/%d" % i, rq(fields=[("Host", "a"), ("Connection", conn)]))
        for i, conn in enumerate(["closex", "close,", ",close", "Close ,x", "keep-alive;q=1", "xclose",
                                  "close\t", "keep-alive, keep-alive", "TE", "clos"]):
            self.add("valid/connection/token/%d" % i, rq(fields=[("Host", "a"), ("Connection", conn)]))
            self.add("valid/connection/token-http10/%d" % i, rq(version="HTTP/1.0", fields=[("Connection", conn)]))
        for i, m in enumerate(["GET", "HEAD", "OPTIONS", "TRACE", "DELETE"]):
            body = self.body_bytes(1, 30)
            self.add("valid/body-any-method/cl/%d" % i, rq(m, fields=[("Host", "a"), ("Content-Length", str(len(body)))], body=body))
            self.add("valid/body-any-method/chunked/%d" % i, rq(m, fields=[("Host", "a"), ("Transfer-Encoding", "chunked")],
                                                                 body=self.chunked_body(body)))
        # HTTP/1.0 with both "close" and "keep-alive": RFC 9112 §9.3 lets "close" win.
        self.add("connection/close-wins/http10-close-first", rq(version="HTTP/1.0", fields=[("Connection", "Close ,keep-alive")]))
        self.add("connection/close-wins/http10-keep-alive-first", rq(version="HTTP/1.0", fields=[("Connection", "keep-alive, close")]))
        self.add("connection/close-wins/http10-two-fields", rq(version="HTTP/1.0", fields=[("Connection", "keep-alive"), ("Connection", "close")]))
        self.add("valid/content-length/many-zeros", rq("POST", fields=[("Host", "a"), ("Content-Length", "0" * 30 + "3")], body="abc"))
        self.add("valid/empty-input/nothing", "")
        self.add("valid/empty-input/crlf-only", "\r\n\r\n")
        for i in range(10):
            self.add("valid/leading-crlf/%d" % i, "\r\n" * R.randint(1, 4) + rq(target=self.origin_target()))
        for i in range(10):
            body = self.body_bytes(1, 20)
            self.add("valid/expect/%d" % i, rq("POST", fields=[("Host", "a"), ("Expect", R.choice(["100-continue", "100-Continue"])),
                                                               ("Content-Length", str(len(body)))], body=body))
        for i, (conn, upgrade) in enumerate([("Upgrade", "websocket"), ("upgrade", "h2c"), ("keep-alive, Upgrade", "foo/1")]):
            self.add("valid/upgrade/%d" % i, rq(fields=[("Host", "a"), ("Connection", conn), ("Upgrade", upgrade)]))
        # Prefixes of valid inputs: both must say "incomplete" (or agree on what was complete).
        for i in range(300):
            full = self.valid_request()
            if R.random() < 0.3:
                full += self.valid_request()
            cut = R.randint(1, len(full) - 1)
            self.add("valid/truncated/%d" % i, full[:cut])

    # --- malicious / invalid families ------------------------------------------------------
    def malicious(self):
        R, rq = self.rng, self.request
        post = "POST / HTTP/1.1\r\nHost: a\r\n"
        chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

        def add_all(prefix, items):
            for key, data in items:
                self.add(prefix + "/" + key, data)

        # CL + TE (RFC 9112 §6.1, §11.2)
        cl_te = []
        for tk, te in {"chunked": " chunked", "Chunked": " Chunked", "two-sp": "  chunked", "trailing-sp": " chunked "}.items():
            for cl in ["0", "4", "5", "100"]:
                cl_te.append(("cl-first/%s/%s" % (tk, cl),
                              post + "Content-Length: %s\r\nTransfer-Encoding:%s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (cl, te)))
                cl_te.append(("te-first/%s/%s" % (tk, cl),
                              post + "Transfer-Encoding:%s\r\nContent-Length: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (te, cl)))
        add_all("smuggle/cl-te", cl_te)
        self.add("smuggle/cl-te/http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello")

        # Content-Length variants
        for k, v in [("same-twice", ["3", "3"]), ("same-twice-zeros", ["3", "003"])]:
            self.add("smuggle/cl-duplicate-same/" + k, post + "".join("Content-Length: %s\r\n" % x for x in v) + "\r\nabc")
        for k, v in [("list", "3, 3"), ("list-nospace", "3,3"), ("list-three", "3 ,3, 3")]:
            self.add("smuggle/cl-list-same/" + k, post + "Content-Length: %s\r\n\r\nabc" % v)
        for k, v in [("differ", ["3", "4"]), ("differ-zero", ["0", "3"]), ("differ-case", ["3", "5"])]:
            name = "content-length" if k == "differ-case" else "Content-Length"
            self.add("smuggle/cl-duplicate-differ/" + k, post + "Content-Length: %s\r\n%s: %s\r\n\r\nabcde" % (v[0], name, v[1]))
        for k, v in [("list-differ", "3, 4"), ("list-empty-member", "3,"), ("list-leading-empty", ",3")]:
            self.add("smuggle/cl-list-differ/" + k, post + "Content-Length: %s\r\n\r\nabcd" % v)
        for k, v in [("plus", "+3"), ("minus", "-3"), ("hex", "0x3"), ("junk-after", "3a"), ("semicolon", "3;x"),
                     ("inner-space", "1 2"), ("float", "3.0"), ("empty", ""), ("spaces-only", "   "),
                     ("overflow-int64", "9223372036854775808"), ("overflow-huge", "99999999999999999999"),
                     ("exponent", "3e0"), ("unicode-digit", "\xd9\xa3"), ("vtab", "\x0b3"), ("nul", "3\x00")]:
            self.add("smuggle/cl-invalid/" + k, post + "Content-Length: %s\r\n\r\nabc" % v)
        for k, v in [("leading-space", "  3"), ("trailing-space", "3  "), ("tab", "\t3\t"), ("no-ows", "3")]:
            self.add("smuggle/cl-ows/" + k, post.replace("\r\n", "\r\n", 1) + "Content-Length:%s\r\n\r\nabc" % v)
        self.add("smuggle/cl-too-short/1", post + "Content-Length: 2\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("smuggle/cl-too-long/1", post + "Content-Length: 10\r\n\r\nabc")

        # Transfer-Encoding variants
        te_cases = {
            "chunked-identity": "chunked, identity", "identity": "identity", "xchunked": "xchunked",
            "chunkedx": "chunkedx", "chunked-gzip": "chunked, gzip", "gzip": "gzip",
            "chunked-twice-list": "chunked, chunked", "chunked-params": "chunked;q=1",
            "quoted": '"chunked"', "empty": "", "vtab": "\x0bchunked", "nul-inside": "chunk\x00ed",
            "chunked-comma-junk": "chunked, x y", "ws-inside": "chun ked", "cr-inside": "chunked\rx",
            "unicode-k": "chun\xe2\x84\xaaed",
        }
        for k, v in te_cases.items():
            self.add("smuggle/te-invalid/" + k, post + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)
        for k, v in {"gzip-chunked": "gzip, chunked", "deflate-chunked": "deflate, chunked",
                     "identity-chunked": "identity, chunked"}.items():
            self.add("smuggle/te-coding-before-chunked/" + k, post + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)
        self.add("smuggle/te-coding-before-chunked/split-fields", post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        for k, v in {"leading-comma": ", chunked", "trailing-comma": "chunked ,", "both-commas": ", chunked ,"}.items():
            self.add("smuggle/te-empty-list-member/" + k, post + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)
        for k, v in {"leading-space": "  chunked", "leading-tab": "\tchunked", "trailing-space": "chunked  ",
                     "upper": "CHUNKED", "mixed": "cHuNkEd"}.items():
            self.add("smuggle/te-ows-case/" + k, post + "Transfer-Encoding:%s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (v if v[0] in " \t" else " " + v))
        self.add("smuggle/te-twice-fields/same", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.add("smuggle/te-twice-fields/chunked-then-gzip", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n")
        for k, v in {"chunked": "chunked", "chunked-cl": "chunked\r\nContent-Length: 0"}.items():
            self.add("smuggle/te-http10/" + k, "POST / HTTP/1.0\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)

        # Header name / separator tricks
        for hdr in ["Transfer-Encoding: chunked", "Content-Length: 5", "Host: a", "X-A: b"]:
            n, v = hdr.split(": ")
            key = n.lower()
            self.add("smuggle/space-before-colon/%s/sp" % key, post + "%s : %s\r\n\r\nhello" % (n, v))
            self.add("smuggle/space-before-colon/%s/tab" % key, post + "%s\t: %s\r\n\r\nhello" % (n, v))
            self.add("smuggle/obs-fold/%s/sp" % key, post + "%s:\r\n %s\r\n\r\nhello" % (n, v))
            self.add("smuggle/obs-fold/%s/tab" % key, post + "X-Before: 1\r\n%s: %s\r\n\tmore\r\n\r\nhello" % (n, v))
            self.add("smuggle/obs-fold/%s/first-line" % key, "POST / HTTP/1.1\r\n %s: %s\r\nHost: a\r\n\r\nhello" % (n, v))
        for c in ["(", ")", ",", "/", ":", ";", "<", "=", ">", "?", "@", "[", "\\", "]", "{", "}", '"', "\xe9", "\x7f"]:
            self.add("smuggle/field-name-invalid/x%02x" % ord(c), "GET / HTTP/1.1\r\nHost: a\r\nX%sY: v\r\n\r\n" % c)
        self.add("smuggle/field-name-invalid/empty", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n")
        self.add("smuggle/field-name-invalid/no-colon", "GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n")
        self.add("smuggle/field-name-invalid/space-inside", "GET / HTTP/1.1\r\nHost: a\r\nX Y: v\r\n\r\n")

        # Control bytes in every position of the head
        for b in list(range(0x00, 0x20)) + [0x7F]:
            c = chr(b)
            if c not in "\r\n":
                self.add("smuggle/ctl/value/x%02x" % b, "GET / HTTP/1.1\r\nHost: a\r\nX: a%sb\r\n\r\n" % c)
                self.add("smuggle/ctl/value-edge/x%02x" % b, "GET / HTTP/1.1\r\nHost: a\r\nX: %sab\r\n\r\n" % c)
            self.add("smuggle/ctl/name/x%02x" % b, "GET / HTTP/1.1\r\nHost: a\r\nX%s: v\r\n\r\n" % c)
            self.add("smuggle/ctl/target/x%02x" % b, "GET /a%sb HTTP/1.1\r\nHost: a\r\n\r\n" % c)
            self.add("smuggle/ctl/method/x%02x" % b, "G%sET / HTTP/1.1\r\nHost: a\r\n\r\n" % c)
            if c not in "\r\n":
                self.add("smuggle/ctl/trailer-value/x%02x" % b, chunked + "0\r\nX: a%sb\r\n\r\n" % c)
                self.add("smuggle/ctl/chunk-ext/x%02x" % b, chunked + "1;a=%s\r\nx\r\n0\r\n\r\n" % c)

        # Bare CR / bare LF everywhere
        lines = {
            "request-line": ("GET / HTTP/1.1", "\r\nHost: a\r\n\r\n"),
            "field-line": ("GET / HTTP/1.1\r\nHost: a", "\r\n\r\n"),
            "mid-value": ("GET / HTTP/1.1\r\nHost: a\r\nX: a", "b\r\n\r\n"),
            "empty-line": ("GET / HTTP/1.1\r\nHost: a\r\n", ""),
            "in-target": ("GET /a", "b HTTP/1.1\r\nHost: a\r\n\r\n"),
            "chunk-size": (chunked + "5", "hello\r\n0\r\n\r\n"),
            "chunk-data-end": (chunked + "5\r\nhello", "0\r\n\r\n"),
            "last-chunk": (chunked + "5\r\nhello\r\n0", "\r\n"),
            "trailer": (chunked + "0\r\nX: y", "\r\n"),
            "final-crlf": (chunked + "0\r\n", ""),
        }
        for k, (a, b) in lines.items():
            self.add("smuggle/bare-lf/" + k, a + "\n" + b)
            self.add("smuggle/bare-cr/" + k, a + "\r" + b + ("\r\n" if k in ("empty-line", "final-crlf") else ""))
        self.add("smuggle/bare-lf/all-lines", "GET / HTTP/1.1\nHost: a\n\n")
        self.add("smuggle/bare-lf/leading", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("smuggle/bare-cr/leading", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("smuggle/bare-cr/value-end-cr-cr", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n")

        # Chunk framing
        sizes = {"plus": "+5", "minus": "-5", "0x": "0x5", "space-before-crlf": "5 ", "tab-before-crlf": "5\t",
                 "space-inside": "5 5", "empty": "", "non-hex": "5g", "letters": "zz", "leading-space": " 5",
                 "unicode": "\xd9\xa5", "semicolon-only": "5;", "ext-no-name": "5;=x", "ext-unterminated-quote": '5;a="x',
                 "ext-bad-quoted-pair": '5;a="\\\x01"', "ext-equals-empty": "5;a=", "ext-space-before-semi": "5 ;a",
                 "ext-space-around-eq": "5;a = b", "ext-space-after-semi": "5; a", "ext-empty-member": "5;;a"}
        for k, v in sizes.items():
            self.add("smuggle/chunk-size/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        for k, v in {"int64-max+1": "8000000000000000", "uint64-max": "ffffffffffffffff",
                     "17-digits": "10000000000000000", "18-f": "ffffffffffffffffff", "32-digits": "1" * 32}.items():
            self.add("smuggle/chunk-size-overflow/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        for k, v in {"17-digits": "0" * 16 + "5", "20-digits": "0" * 19 + "5", "40-digits": "0" * 39 + "5"}.items():
            self.add("smuggle/chunk-size-leading-zeros/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        self.add("smuggle/chunk-size-leading-zeros/16-digits-ok", chunked + "0" * 15 + "5\r\nhello\r\n0\r\n\r\n")
        for k, data in {"data-longer": "5\r\nhelloX\r\n0\r\n\r\n", "data-shorter": "5\r\nhell\r\n0\r\n\r\n",
                        "no-crlf": "5\r\nhello0\r\n\r\n", "lf-only": "5\r\nhello\n0\r\n\r\n",
                        "cr-only": "5\r\nhello\r0\r\n\r\n", "no-last-chunk": "5\r\nhello\r\n\r\n"}.items():
            self.add("smuggle/chunk-data-crlf/" + k, chunked + data)
        for k, data in {"obs-fold": "0\r\nX: a\r\n b\r\n\r\n", "space-before-colon": "0\r\nX : a\r\n\r\n",
                        "no-colon": "0\r\nX\r\n\r\n", "empty-name": "0\r\n: a\r\n\r\n",
                        "cl-trailer": "0\r\nContent-Length: 5\r\n\r\n", "te-trailer": "0\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "invalid-name": "0\r\nX(: a\r\n\r\n"}.items():
            self.add("smuggle/trailer/" + k, chunked + data)
        self.add("smuggle/chunk-after-end/pipelined-garbage", chunked + "0\r\n\r\nX")

        # Request line: methods, separators, versions, targets
        for m in ["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "PURGE",
                  "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE",
                  "UNSUBSCRIBE", "LINK", "UNLINK", "QUERY", "SOURCE", "BIND", "REBIND", "UNBIND", "ACL", "PRI"]:
            self.add("request-line/method-other-known/" + m, "%s / HTTP/1.1\r\nHost: a\r\n\r\n" % m)
        for k, m in {"lowercase": "get", "mixed": "Get", "brew": "BREW", "long": "X" * 40, "digits": "123",
                     "tchar-punct": "G!T", "paren": "GE(T", "slash": "GE/T", "nonascii": "G\xc9T", "empty": ""}.items():
            self.add("request-line/method-invalid/" + k, "%s / HTTP/1.1\r\nHost: a\r\n\r\n" % m)
        self.add("request-line/connect/authority", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        self.add("request-line/connect/origin", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n")
        for k, line in {"double-sp-after-method": "GET  / HTTP/1.1", "double-sp-before-version": "GET /  HTTP/1.1",
                        "tab-after-method": "GET\t/ HTTP/1.1", "tab-before-version": "GET /\tHTTP/1.1",
                        "leading-sp": " GET / HTTP/1.1", "trailing-sp": "GET / HTTP/1.1 ",
                        "no-sp": "GET/ HTTP/1.1", "vtab": "GET\x0b/ HTTP/1.1"}.items():
            self.add("request-line/whitespace/" + k, line + "\r\nHost: a\r\n\r\n")
        for v in ["HTTP/1.2", "HTTP/1.9"]:
            self.add("request-line/version-higher-minor/" + v[5:], "GET / %s\r\nHost: a\r\n\r\n" % v)
        for v in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9", "HTTP/0.0", "HTTP/2.1"]:
            self.add("request-line/version-other-major/" + v[5:], "GET / %s\r\nHost: a\r\n\r\n" % v)
        for k, v in {"1.10": "HTTP/1.10", "1": "HTTP/1", "lower": "http/1.1", "space": "HTTP/ 1.1", "https": "HTTPS/1.1",
                     "rtsp": "RTSP/1.0", "ice": "ICE/1.0", "letters": "HTTP/a.b", "comma": "HTTP/1,1", "01.1": "HTTP/01.1"}.items():
            self.add("request-line/version-invalid/" + k, "GET / %s\r\nHost: a\r\n\r\n" % v)
        self.add("request-line/http09/no-version", "GET /\r\n\r\n")
        self.add("request-line/http09/no-version-with-fields", "GET /\r\nHost: a\r\n\r\n")
        for k, t in {"utf8-path": "/caf\xc3\xa9", "utf8-query": "/?q=\xe2\x9c\x93", "latin1": "/\xe9", "utf8-4byte": "/\xf0\x9f\x98\x80",
                     "overlong": "/\xc0\xaf", "lone-continuation": "/\x80"}.items():
            self.add("request-line/target-non-ascii/" + k, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % t)
        for k, t in {"quote": '/a"b', "lt-gt": "/<x>", "braces": "/{x}", "pipe": "/a|b", "backslash": "/a\\b",
                     "caret": "/a^b", "backtick": "/a`b", "fragment": "/a#b", "percent-bad": "/%zz", "hash-only": "/#"}.items():
            self.add("request-line/target-vchar-not-uri/" + k, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % t)
        self.add("request-line/target-form/asterisk-get", "GET * HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-form/asterisk-extra", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-form/authority-get", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-form/relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-scheme/ftp", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-scheme/ws", "GET ws://a/ HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-scheme/empty-authority", "GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("request-line/target-scheme/authority-query", "GET http://?q HTTP/1.1\r\nHost: a\r\n\r\n")

        self.add("request-line/http2-preface/pri", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

        # Host
        self.add("host/missing/http11", "GET / HTTP/1.1\r\n\r\n")
        self.add("host/missing/http11-absolute", "GET http://a/ HTTP/1.1\r\n\r\n")
        self.add("host/missing/http11-post", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        self.add("host/duplicate/same", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")
        self.add("host/duplicate/differ", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")
        self.add("host/duplicate/http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")
        for k, v in {"space": "a b", "userinfo": "u@a", "slash": "a/b", "quote": 'a"b', "obs-text": "\xe9.example",
                     "backslash": "a\\b", "hash": "a#b"}.items():
            self.add("host/invalid/" + k, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % v)

        # Pipelining after the connection is to close
        self.add("pipeline-after-close/http11-close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("pipeline-after-close/http10", "GET / HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.add("pipeline-after-close/http10-body", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhiGET /2 HTTP/1.0\r\n\r\n")
        self.add("pipeline-after-close/error-in-second", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\n\n")

        # Upgrade with bytes after the head: llhttp stops, Flaks keeps parsing HTTP
        self.add("upgrade/trailing-bytes/websocket", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
        self.add("upgrade/trailing-bytes/http", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")

        # Random mutations of valid requests: insert, delete or replace one byte. Whatever each parser
        # decides, the two must agree (the names say which mutation; most are rejected by both).
        specials = "\x00\t\n\r :;,\"\\/\x7f\x80\xff "
        for i in range(400):
            base = self.valid_request()
            pos = R.randrange(len(base))
            op = R.choice(["insert", "delete", "replace"])
            c = R.choice(specials) if R.random() < 0.7 else chr(R.randint(0, 255))
            if op == "insert":
                data = base[:pos] + c + base[pos:]
            elif op == "delete":
                data = base[:pos] + base[pos + 1:]
            else:
                data = base[:pos] + c + base[pos + 1:]
            self.add("mutation/%s/%d" % (op, i), data)


def build_corpus(seed):
    c = Corpus(seed)
    c.valid()
    c.malicious()
    return c.cases


# ---------------------------------------------------------------------------------------------
# Running the two parsers
# ---------------------------------------------------------------------------------------------

def run_llhttp(data):
    import httptools

    class Proto:
        def __init__(self):
            self.requests = []
            self.current = None

        def on_message_begin(self):
            self.current = {"method": None, "target": b"", "version": None, "headers": [], "trailers": [], "body": b"",
                            "keepAlive": None, "complete": False}

        def on_url(self, url):
            self.current["target"] += url

        def on_header(self, name, value):
            # After the head, llhttp reports trailer fields the same way; Flaks checks and discards them.
            self.current["trailers" if self.current["method"] else "headers"].append((name, value))

        def on_headers_complete(self):
            self.current["method"] = parser.get_method().decode("latin-1")
            self.current["version"] = parser.get_http_version()
            self.current["keepAlive"] = parser.should_keep_alive()

        def on_body(self, body):
            self.current["body"] += body

        def on_message_complete(self):
            self.current["keepAlive"] = parser.should_keep_alive()
            self.current["complete"] = True
            self.requests.append(self.current)
            self.current = None

    proto = Proto()
    parser = httptools.HttpRequestParser(proto)
    result = {"status": "accepted", "upgrade": False}
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        result["upgrade"] = True
    except httptools.HttpParserError as e:
        result["status"] = "rejected"
        result["error"] = "%s: %s" % (type(e).__name__, e)
    if result["status"] == "accepted" and not result["upgrade"] and proto.current is not None:
        result["status"] = "incomplete"
    reqs = []
    for r in proto.requests:
        reqs.append({
            "method": r["method"],
            "target": r["target"].decode("utf-8", "replace"),
            "version": r["version"],
            # RFC 9112 §5: trailing OWS is not part of the field value (llhttp keeps it).
            "headers": [[n.decode("utf-8", "replace"), v.rstrip(b" \t").decode("utf-8", "replace")]
                        for n, v in r["headers"]],
            "body": r["body"].hex(),
            "keepAlive": r["keepAlive"],
        })
    result["requests"] = reqs
    return result


def run_flaks(parsedump, cases, responses=False):
    stream = b"".join(struct.pack(">I", len(d)) + d for _, d in cases)
    p = subprocess.run([parsedump, "--stream-responses" if responses else "--stream"], input=stream,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise SystemExit("differential: ParseDump failed with status %d" % p.returncode)
    lines = p.stdout.decode("utf-8").splitlines()
    if len(lines) != len(cases):
        raise SystemExit("differential: ParseDump printed %d lines for %d cases" % (len(lines), len(cases)))
    out = []
    for line in lines:
        r = json.loads(line)
        if responses:
            out.append(flaks_response_result(r))
            continue
        r["requests"] = [{k: q[k] for k in ("method", "target", "version", "headers", "body", "keepAlive")}
                         for q in r["requests"] if q["complete"]]
        out.append(r)
    return out


def compare(flaks, ll):
    """Returns None when the two agree, else a short description of the first difference."""
    freqs = flaks["requests"]
    fstatus = flaks["status"]
    if ll["upgrade"]:
        # llhttp stopped after an upgrade request; what follows is not HTTP for it.
        n = len(ll["requests"])
        if len(freqs) < n:
            return "outcome"
        freqs = freqs[:n]
        fstatus = "accepted"
    if fstatus != ll["status"]:
        return "outcome"
    if len(freqs) != len(ll["requests"]):
        return "request count"
    for i, (a, b) in enumerate(zip(freqs, ll["requests"])):
        for key in ("method", "target", "version", "headers", "body", "keepAlive"):
            if a[key] != b[key]:
                return "request %d %s" % (i, key)
    return None


# ---------------------------------------------------------------------------------------------
# Known differences
# ---------------------------------------------------------------------------------------------

def slugify(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def doc_anchors(path):
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#{1,6}\s+(.*)", line)
            if m:
                anchors.add(slugify(m.group(1)))
    return anchors


def load_known(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["differences"]


def match_known(known, name, data, flaks, ll, what):
    """The first entry of known-differences.json that covers this disagreement, or None.

    An entry has `pattern` (a glob on the case name) and `doc` (docs/parser-differences.md#anchor), and may
    narrow itself with: `flaks` / `llhttp` (the two outcomes; llhttp "upgrade" when it stopped at one),
    `field` (regex on what differed, e.g. "request 0 keepAlive"), `flaks_reason` / `llhttp_error` (regex
    on the error text), `bytes` (regex on the input, decoded as Latin-1), and `flaks_after_crlf` (Flaks'
    outcome once an empty line is appended, for inputs that end inside a head). `optional: true` (only
    for `mutation/*` and `response/mutation/*` entries) exempts an entry from the staleness check.
    """
    for k in known:
        if not fnmatch.fnmatchcase(name, k["pattern"]):
            continue
        if "flaks" in k and k["flaks"] != flaks["status"]:
            continue
        if "llhttp" in k and k["llhttp"] != ("upgrade" if ll["upgrade"] else ll["status"]):
            continue
        if "field" in k and not re.fullmatch(k["field"], what):
            continue
        if "flaks_reason" in k and not re.search(k["flaks_reason"], flaks.get("error", {}).get("reason", "")):
            continue
        if "llhttp_error" in k and not re.search(k["llhttp_error"], ll.get("error", "")):
            continue
        if "bytes" in k and not re.search(k["bytes"], data.decode("latin-1")):
            continue
        if "flaks_after_crlf" in k and flaks.get("after_crlf") != k["flaks_after_crlf"]:
            continue
        return k
    return None


def describe(side):
    s = side["status"] + (" (upgrade)" if side.get("upgrade") else "")
    if side.get("pending"):
        s += " (inside a %s%s)" % (side["pending"], "; %s once an empty line is added" % side["after_crlf"] if "after_crlf" in side else "")
    if "error" in side:
        e = side["error"]
        s += " " + (("%d %s" % (e["code"], e["reason"])) if isinstance(e, dict) else e)
    if "eof" in side:
        s += " (at EOF: %s)" % side["eof"]
    if "tunnel" in side:
        s += " tunnel=%s" % side["tunnel"][:80]
    for i, r in enumerate(side["requests"]):
        if "method" in r:
            s += "\n      #%d %s %s HTTP/%s keepAlive=%s headers=%s body=%s" % (
                i, r["method"], json.dumps(r["target"]), r["version"], r["keepAlive"],
                json.dumps(r["headers"]), r["body"][:80] + ("..." if len(r["body"]) > 80 else ""))
        else:
            s += "\n      #%d HTTP/%s %s %s keepAlive=%s complete=%s headers=%s trailers=%s body=%s" % (
                i, r["version"], r["status"], json.dumps(r["reason"]), r["keepAlive"], r["complete"],
                json.dumps(r["headers"]), json.dumps(r["trailers"]), r["body"][:80] + ("..." if len(r["body"]) > 80 else ""))
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsedump", default=os.path.join(ROOT, ".build", "debug", "ParseDump"))
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--known", default=os.path.join(HERE, "known-differences.json"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "parser-differences.md"))
    ap.add_argument("--only", help="run only cases whose name matches this glob")
    ap.add_argument("--show-known", action="store_true", help="also print the documented disagreements")
    ap.add_argument("--dump", metavar="DIR", help="write every case to DIR/<name> (for ParseDump [--responses] FILE)")
    ap.add_argument("--mode", choices=["both", "requests", "responses"], default="both",
                    help="which parser to test (default: both)")
    args = ap.parse_args()

    global build_response_corpus, run_llhttp_response, flaks_response_result, compare_responses
    from responses import build_response_corpus, run_llhttp_response, flaks_response_result, compare_responses
    try:
        import httptools
    except ImportError:
        raise SystemExit("differential: httptools is not installed (python3 -m pip install httptools)")
    if not os.access(args.parsedump, os.X_OK):
        raise SystemExit("differential: no ParseDump at %s (swift build --product ParseDump)" % args.parsedump)

    request_cases = build_corpus(args.seed) if args.mode != "responses" else []
    response_cases = build_response_corpus(args.seed) if args.mode != "requests" else []
    if args.only:
        request_cases = [c for c in request_cases if fnmatch.fnmatchcase(c[0], args.only)]
        response_cases = [c for c in response_cases if fnmatch.fnmatchcase(c[0], args.only)]
    cases = request_cases + response_cases
    if args.dump:
        for name, data in cases:
            p = os.path.join(args.dump, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)

    known = load_known(args.known)
    anchors = doc_anchors(args.doc)
    failed = False
    for k in known:
        if k.get("optional") and not k["pattern"].startswith(("mutation/", "response/mutation/")):
            print("BAD ENTRY: only mutation/* and response/mutation/* entries may be optional: %r" % k["pattern"])
            failed = True
        anchor = k["doc"].split("#", 1)[1]
        if anchor not in anchors:
            print("BROKEN ANCHOR: %s -> %s (no such heading in %s)" % (k["pattern"], k["doc"], args.doc))
            failed = True

    flaks_results, llhttp_results = [], []
    for side_cases, responses in ((request_cases, False), (response_cases, True)):
        if not side_cases:
            continue
        side_flaks = run_flaks(args.parsedump, side_cases, responses)
        side_ll = [(run_llhttp_response if responses else run_llhttp)(d) for _, d in side_cases]
        # Flaks judges a head only once its empty line has arrived. Where the input ends inside a head that
        # llhttp already rejected, ask Flaks what it says once the head is complete (input + CRLF CRLF).
        probe = [i for i, (f, l) in enumerate(zip(side_flaks, side_ll))
                 if f["status"] == "incomplete" and f.get("pending") == "head" and l["status"] == "rejected"]
        if probe:
            completed = run_flaks(args.parsedump, [(side_cases[i][0], side_cases[i][1] + b"\r\n\r\n") for i in probe], responses)
            for i, r in zip(probe, completed):
                side_flaks[i]["after_crlf"] = r["status"]
        flaks_results += side_flaks
        llhttp_results += side_ll
    used = {id(k): 0 for k in known}
    agree = documented = 0
    unlisted = []
    by_family = {}
    for (name, data), flaks, ll in zip(cases, flaks_results, llhttp_results):
        is_response = name.startswith("response/")
        what = compare_responses(flaks, ll) if is_response else compare(flaks, ll)
        fam = "/".join(name.split("/")[:3 if is_response else 2])
        stats = by_family.setdefault(fam, [0, 0, 0])
        if what is None:
            agree += 1
            stats[0] += 1
            continue
        k = match_known(known, name, data, flaks, ll, what)
        if k is not None:
            used[id(k)] += 1
            documented += 1
            stats[1] += 1
            if args.show_known:
                print("documented (%s): %s: %s\n    bytes:  %r\n    flaks:  %s\n    llhttp: %s"
                      % (k["doc"], name, what, data, describe(flaks), describe(ll)))
            continue
        stats[2] += 1
        unlisted.append((name, data, what, flaks, ll))

    for name, data, what, flaks, ll in unlisted:
        print("DISAGREEMENT: %s: %s\n    bytes:  %r\n    flaks:  %s\n    llhttp: %s" % (name, what, data, describe(flaks), describe(ll)))
    # Staleness is only meaningful for the whole default corpus: another seed or a subset need not
    # produce every listed class.
    check_stale = not args.only and args.seed == DEFAULT_SEED
    # Entries marked "optional" cover classes that random mutations may or may not produce for a seed;
    # each of their doc sections also has deterministic entries, which are checked. With --mode, only
    # the entries of the side that ran are checked.
    def side_ran(k):
        return (args.mode != "requests") if k["pattern"].startswith("response/") else (args.mode != "responses")
    stale = [k for k in known if used[id(k)] == 0 and not k.get("optional") and side_ran(k)] if check_stale else []
    for k in stale:
        print("STALE: known difference %r (%s) no longer occurs; remove it" % (k["pattern"], k["doc"]))

    print("\nfamily                                   agree  documented  unlisted")
    for fam in sorted(by_family):
        a, d, u = by_family[fam]
        print("  %-38s %6d  %10d  %8d" % (fam, a, d, u))
    for label, prefix_is_response in (("requests", False), ("responses", True)):
        fams = [v for f, v in by_family.items() if f.startswith("response/") == prefix_is_response]
        if fams:
            print("%s: cases %d  agree %d  documented %d  unlisted %d" % (
                label, sum(sum(v) for v in fams), sum(v[0] for v in fams), sum(v[1] for v in fams), sum(v[2] for v in fams)))
    print("\ncases: %d  agree: %d  documented differences: %d (%d entries)  unlisted: %d  stale entries: %d"
          % (len(cases), agree, documented, len(known), len(unlisted), len(stale)))
    if unlisted or stale or failed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
