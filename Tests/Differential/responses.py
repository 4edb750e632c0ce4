"""The response side of the differential test: Flaks' ResponseParser (ParseDump --stream-responses)
against llhttp's response mode (httptools.HttpResponseParser). Used by differential.py.

Each case is what an upstream sends on one connection. Flaks reads it the way the proxy does: every
response answers a GET that asked to upgrade, and another request counts as sent only after a response
that kept the connection alive. llhttp reads the same bytes as one response stream.

Compared: the outcome ("accepted", "rejected", "incomplete" = the input ends inside a response, or
"upgrade" = a 101 was accepted and the rest is tunnel data), the bytes after a 101, and for every
response whose head both parsers completed: status code, reason phrase, version, header fields,
trailer fields, body (de-chunked; for the last, incomplete response, the body so far), keep-alive and
whether it completed. httptools cannot tell llhttp that a request was HEAD, nor that the connection
closed (it has no llhttp_finish), so HEAD answers and the end of close-delimited bodies are only
covered by the Swift tests; ParseDump's "eof" verdict is printed but not compared.
"""

from differential import TCHAR, Corpus

COMMON_RESPONSE_NAMES = ["Content-Type", "Cache-Control", "ETag", "Last-Modified", "Server", "Date", "Vary",
                         "Set-Cookie", "Location", "Access-Control-Allow-Origin", "X-Powered-By", "Link",
                         "Strict-Transport-Security", "Content-Security-Policy", "Accept-Ranges", "Age", "Expires"]
REASONS = {100: "Continue", 102: "Processing", 103: "Early Hints", 200: "OK", 201: "Created", 202: "Accepted",
           204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
           307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           418: "I'm a teapot", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}
WITH_BODY = [200, 201, 202, 206, 301, 302, 307, 400, 401, 403, 404, 418, 429, 500, 502, 503]


class ResponseCorpus(Corpus):
    """Generates upstream responses: valid ones of every framing, and the nasty shapes a proxy must refuse."""

    def field_name(self):
        if self.rng.random() < 0.5:
            n = self.rng.choice(COMMON_RESPONSE_NAMES)
            return self.rng.choice([n, n.lower(), n.upper()])
        return self.word(TCHAR, 1, 24)

    def random_fields(self, lo=0, hi=8, obs_text=False):
        out = []
        for _ in range(self.rng.randint(lo, hi)):
            name = self.field_name()
            if name.lower() in ("content-length", "transfer-encoding", "connection", "upgrade"):
                name = "X-" + name
            out.append((name, self.field_value(obs_text)))
        return out

    @staticmethod
    def response(code=200, reason=None, version="HTTP/1.1", fields=(), body=""):
        if reason is None:
            reason = REASONS.get(code, "Whatever")
        head = "%s %d %s\r\n" % (version, code, reason)
        for n, v in fields:
            head += "%s: %s\r\n" % (n, v)
        return head + "\r\n" + body

    def valid_response(self, allow_close=False):
        """One random valid keep-alive response (Content-Length, chunked or no body), as a str."""
        R, rs = self.rng, self.response
        fields = self.random_fields(0, 5)
        kind = R.random()
        if kind < 0.1:
            code = R.choice([204, 304])
            return rs(code, fields=fields + ([("Content-Length", str(R.randint(0, 500)))] if code == 304 and R.random() < 0.5 else []))
        code = R.choice(WITH_BODY)
        if kind < 0.55:
            body = self.body_bytes(0, 120)
            fields = fields + [("Content-Length", str(len(body)))]
            R.shuffle(fields)
            return rs(code, fields=fields, body=body)
        body = self.body_bytes(0, 150)
        fields = fields + [("Transfer-Encoding", R.choice(["chunked", "Chunked"]))]
        R.shuffle(fields)
        return rs(code, fields=fields, body=self.chunked_body(body, ext=R.random() < 0.3, trailers=R.random() < 0.3))

    # --- valid families --------------------------------------------------------------------
    def valid(self):
        R, rs = self.rng, self.response
        for i in range(150):
            body = self.body_bytes(0, 300)
            cl = str(len(body))
            if R.random() < 0.15:
                cl = "0" * R.randint(1, 3) + cl
            fields = [("Content-Length", cl)] + self.random_fields(0, 6)
            R.shuffle(fields)
            self.add("response/valid/content-length/%d" % i, rs(R.choice(WITH_BODY), fields=fields, body=body))
        for i in range(150):
            body = self.body_bytes(0, 400)
            fields = [("Transfer-Encoding", R.choice(["chunked", "Chunked", "CHUNKED"]))] + self.random_fields(0, 6)
            R.shuffle(fields)
            self.add("response/valid/chunked/%d" % i, rs(R.choice(WITH_BODY), fields=fields,
                                                         body=self.chunked_body(body, ext=R.random() < 0.4, trailers=R.random() < 0.5,
                                                                                upper=R.random() < 0.5, zeros=R.random() < 0.2)))
        for i in range(60):
            fields = self.random_fields(0, 5) + ([("Connection", R.choice(["close", "keep-alive"]))] if R.random() < 0.3 else [])
            self.add("response/valid/close-delimited/%d" % i, rs(R.choice(WITH_BODY), R.choice([None, ""]),
                                                                 R.choice(["HTTP/1.1", "HTTP/1.0"]), fields=fields,
                                                                 body=self.body_bytes(0, 300)))
        for i in range(30):
            code = R.choice([204, 304])
            fields = self.random_fields(0, 5)
            if code == 304 and R.random() < 0.5:
                fields.append(("Content-Length", str(R.randint(1, 999))))
            self.add("response/valid/no-body/%d" % i, rs(code, fields=fields) + self.valid_response())
        for i in range(40):
            interim = "".join(rs(R.choice([100, 102, 103]), fields=[("Link", "</a.css>; rel=preload")] if R.random() < 0.5 else [])
                              for _ in range(R.randint(1, 3)))
            self.add("response/valid/interim/%d" % i, interim + self.valid_response())
        for i in range(20):
            tunnel = self.body_bytes(0, 40)
            self.add("response/valid/upgrade/%d" % i, rs(101, R.choice(["Switching Protocols", ""]),
                                                         fields=[("Upgrade", "websocket"), ("Connection", "Upgrade")]
                                                         + self.random_fields(0, 2)) + tunnel)
        for i in range(100):
            self.add("response/valid/pipeline/%d" % i, "".join(self.valid_response() for _ in range(R.randint(2, 3))))
        for i, conn in enumerate(["close", "Close", "keep-alive", "keep-alive, close", "close, keep-alive", "upgrade",
                                  "te, close", "foo", "closed", "keep-alive, keep-alive"]):
            for v in ["HTTP/1.1", "HTTP/1.0"]:
                self.add("response/valid/connection/%s/%d" % (v[5:], i),
                         rs(200, version=v, fields=[("Connection", conn), ("Content-Length", "2")], body="ok"))
        for code in [200, 201, 299, 310, 399, 451, 499, 500, 599, 600, 999]:
            self.add("response/valid/status/%d" % code, rs(code, "X", fields=[("Content-Length", "1")], body="x"))
        for k, line in {"empty-with-sp": "HTTP/1.1 200 ", "no-sp": "HTTP/1.1 200", "spaces": "HTTP/1.1 200 All  good ",
                        "tab": "HTTP/1.1 200 A\tB", "obs-text": "HTTP/1.1 200 Tr\xe8s bien", "punct": "HTTP/1.1 200 (ok) [1] {2}"}.items():
            self.add("response/valid/reason/" + k, line + "\r\nContent-Length: 0\r\n\r\n")
        for i in range(150):
            fields = self.random_fields(0, 12, obs_text=R.random() < 0.2) + [("Content-Length", "0")]
            R.shuffle(fields)
            head = "HTTP/1.1 %d OK\r\n" % R.choice(WITH_BODY)
            for n, v in fields:
                head += n + ":" + self.ows() + v + self.ows() + "\r\n"
            self.add("response/valid/fields/%d" % i, head + "\r\n")
        for i in range(200):
            full = "".join(self.valid_response() for _ in range(R.randint(1, 2)))
            self.add("response/valid/truncated/%d" % i, full[:R.randint(1, len(full) - 1)])

    # --- nasty families --------------------------------------------------------------------
    def malicious(self):
        R, rs = self.rng, self.response
        ok = "HTTP/1.1 200 OK\r\n"
        chunked = ok + "Transfer-Encoding: chunked\r\n\r\n"

        for tk, te in {"chunked": " chunked", "Chunked": " Chunked", "trailing-sp": " chunked "}.items():
            for cl in ["0", "5", "100"]:
                self.add("response/smuggle/cl-te/cl-first/%s/%s" % (tk, cl),
                         ok + "Content-Length: %s\r\nTransfer-Encoding:%s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (cl, te))
                self.add("response/smuggle/cl-te/te-first/%s/%s" % (tk, cl),
                         ok + "Transfer-Encoding:%s\r\nContent-Length: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (te, cl))
        self.add("response/smuggle/cl-te/http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello")
        self.add("response/smuggle/cl-te/304", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")

        for k, v in [("same-twice", ["3", "3"]), ("same-twice-zeros", ["3", "003"])]:
            self.add("response/smuggle/cl-duplicate-same/" + k, ok + "".join("Content-Length: %s\r\n" % x for x in v) + "\r\nabc")
        for k, v in [("list", "3, 3"), ("list-nospace", "3,3")]:
            self.add("response/smuggle/cl-list-same/" + k, ok + "Content-Length: %s\r\n\r\nabc" % v)
        for k, v in [("differ", ["3", "4"]), ("differ-zero", ["0", "3"])]:
            self.add("response/smuggle/cl-duplicate-differ/" + k, ok + "Content-Length: %s\r\nContent-Length: %s\r\n\r\nabcd" % tuple(v))
        for k, v in [("list-differ", "3, 4"), ("list-empty-member", "3,")]:
            self.add("response/smuggle/cl-list-differ/" + k, ok + "Content-Length: %s\r\n\r\nabcd" % v)
        for k, v in [("plus", "+3"), ("minus", "-3"), ("hex", "0x3"), ("junk-after", "3a"), ("inner-space", "1 2"),
                     ("empty", ""), ("overflow-int64", "9223372036854775808"), ("overflow-huge", "99999999999999999999"),
                     ("nul", "3\x00")]:
            self.add("response/smuggle/cl-invalid/" + k, ok + "Content-Length: %s\r\n\r\nabc" % v)

        te_cases = {"chunked-identity": "chunked, identity", "identity": "identity", "gzip": "gzip", "xchunked": "xchunked",
                    "chunked-gzip": "chunked, gzip", "chunked-twice-list": "chunked, chunked", "chunked-params": "chunked;q=1",
                    "quoted": '"chunked"', "empty": "", "ws-inside": "chun ked"}
        for k, v in te_cases.items():
            self.add("response/smuggle/te-invalid/" + k, ok + "Transfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % v)
        for k, v in {"gzip-chunked": "gzip, chunked", "identity-chunked": "identity, chunked"}.items():
            self.add("response/smuggle/te-coding-before-chunked/" + k, ok + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)
        self.add("response/smuggle/te-coding-before-chunked/split-fields", ok + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.add("response/smuggle/te-twice-fields/same", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        for k, v in {"leading-comma": ", chunked", "trailing-comma": "chunked ,"}.items():
            self.add("response/smuggle/te-empty-list-member/" + k, ok + "Transfer-Encoding: %s\r\n\r\n0\r\n\r\n" % v)
        self.add("response/smuggle/te-http10/chunked", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")

        for hdr in ["Transfer-Encoding: chunked", "Content-Length: 5", "X-A: b"]:
            n, v = hdr.split(": ")
            key = n.lower()
            self.add("response/smuggle/space-before-colon/%s/sp" % key, ok + "%s : %s\r\n\r\nhello" % (n, v))
            self.add("response/smuggle/space-before-colon/%s/tab" % key, ok + "%s\t: %s\r\n\r\nhello" % (n, v))
            self.add("response/smuggle/obs-fold/%s/sp" % key, ok + "%s:\r\n %s\r\n\r\nhello" % (n, v))
            self.add("response/smuggle/obs-fold/%s/tab" % key, ok + "X-Before: 1\r\n%s: %s\r\n\tmore\r\n\r\nhello" % (n, v))
            self.add("response/smuggle/obs-fold/%s/first-line" % key, ok + " %s: %s\r\nContent-Length: 0\r\n\r\n" % (n, v))
        for c in ["(", ")", ",", "/", ":", ";", "<", "=", "@", "[", "\\", '"', "\xe9", "\x7f"]:
            self.add("response/smuggle/field-name-invalid/x%02x" % ord(c), ok + "X%sY: v\r\nContent-Length: 0\r\n\r\n" % c)
        self.add("response/smuggle/field-name-invalid/empty", ok + ": v\r\nContent-Length: 0\r\n\r\n")
        self.add("response/smuggle/field-name-invalid/no-colon", ok + "X-No-Colon\r\nContent-Length: 0\r\n\r\n")

        for b in list(range(0x00, 0x20)) + [0x7F]:
            c = chr(b)
            if c not in "\r\n":
                self.add("response/smuggle/ctl/value/x%02x" % b, ok + "X: a%sb\r\nContent-Length: 0\r\n\r\n" % c)
                self.add("response/smuggle/ctl/reason/x%02x" % b, "HTTP/1.1 200 O%sK\r\nContent-Length: 0\r\n\r\n" % c)
                self.add("response/smuggle/ctl/trailer-value/x%02x" % b, chunked + "0\r\nX: a%sb\r\n\r\n" % c)
                self.add("response/smuggle/ctl/chunk-ext/x%02x" % b, chunked + "1;a=%s\r\nx\r\n0\r\n\r\n" % c)
            self.add("response/smuggle/ctl/name/x%02x" % b, ok + "X%s: v\r\nContent-Length: 0\r\n\r\n" % c)

        lines = {
            "status-line": ("HTTP/1.1 200 OK", "Content-Length: 0\r\n\r\n"),
            "field-line": (ok + "Content-Length: 0", "\r\n"),
            "mid-value": (ok + "X: a", "b\r\nContent-Length: 0\r\n\r\n"),
            "empty-line": (ok + "Content-Length: 0\r\n", ""),
            "chunk-size": (chunked + "5", "hello\r\n0\r\n\r\n"),
            "chunk-data-end": (chunked + "5\r\nhello", "0\r\n\r\n"),
            "last-chunk": (chunked + "5\r\nhello\r\n0", "\r\n"),
            "trailer": (chunked + "0\r\nX: y", "\r\n"),
            "final-crlf": (chunked + "0\r\n", ""),
        }
        for k, (a, b) in lines.items():
            self.add("response/smuggle/bare-lf/" + k, a + "\n" + b)
            self.add("response/smuggle/bare-cr/" + k, a + "\r" + b + ("\r\n" if k in ("empty-line", "final-crlf") else ""))
        self.add("response/smuggle/bare-lf/all-lines", "HTTP/1.1 200 OK\nContent-Length: 0\n\n")
        self.add("response/smuggle/bare-lf/leading", "\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        sizes = {"plus": "+5", "minus": "-5", "0x": "0x5", "space-before-crlf": "5 ", "space-inside": "5 5", "empty": "",
                 "non-hex": "5g", "letters": "zz", "leading-space": " 5", "semicolon-only": "5;", "ext-no-name": "5;=x",
                 "ext-unterminated-quote": '5;a="x', "ext-equals-empty": "5;a=", "ext-space-before-semi": "5 ;a",
                 "ext-space-after-semi": "5; a", "ext-empty-member": "5;;a"}
        for k, v in sizes.items():
            self.add("response/smuggle/chunk-size/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        for k, v in {"int64-max+1": "8000000000000000", "uint64-max": "ffffffffffffffff", "17-digits": "10000000000000000",
                     "32-digits": "1" * 32}.items():
            self.add("response/smuggle/chunk-size-overflow/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        for k, v in {"17-digits": "0" * 16 + "5", "20-digits": "0" * 19 + "5"}.items():
            self.add("response/smuggle/chunk-size-leading-zeros/" + k, chunked + v + "\r\nhello\r\n0\r\n\r\n")
        self.add("response/smuggle/chunk-size-leading-zeros/16-digits-ok", chunked + "0" * 15 + "5\r\nhello\r\n0\r\n\r\n")
        for k, data in {"data-longer": "5\r\nhelloX\r\n0\r\n\r\n", "data-shorter": "5\r\nhell\r\n0\r\n\r\n",
                        "no-crlf": "5\r\nhello0\r\n\r\n", "no-last-chunk": "5\r\nhello\r\n\r\n"}.items():
            self.add("response/smuggle/chunk-data-crlf/" + k, chunked + data)
        for k, data in {"obs-fold": "0\r\nX: a\r\n b\r\n\r\n", "space-before-colon": "0\r\nX : a\r\n\r\n",
                        "no-colon": "0\r\nX\r\n\r\n", "empty-name": "0\r\n: a\r\n\r\n",
                        "cl-trailer": "0\r\nContent-Length: 5\r\n\r\n", "te-trailer": "0\r\nTransfer-Encoding: chunked\r\n\r\n"}.items():
            self.add("response/smuggle/trailer/" + k, chunked + data)

        # Status line
        for v in ["HTTP/1.2", "HTTP/1.9", "HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "http/1.1", "HTTPS/1.1", "HTTP/1.10", "HTTP/1",
                  "ICY", "RTSP/1.0", "HTTP/a.b"]:
            self.add("response/status-line/version/" + v.replace("/", "-"), "%s 200 OK\r\nContent-Length: 0\r\n\r\n" % v)
        for k, code in {"000": "000", "099": "099", "two-digits": "20", "four-digits": "2000", "letters": "2x0",
                        "sign": "+20", "empty": ""}.items():
            self.add("response/status-line/code/" + k, "HTTP/1.1 %s OK\r\nContent-Length: 0\r\n\r\n" % code)
        for k, line in {"double-sp": "HTTP/1.1  200 OK", "tab-after-version": "HTTP/1.1\t200 OK", "tab-before-reason": "HTTP/1.1 200\tOK",
                        "leading-sp": " HTTP/1.1 200 OK", "no-sp-after-version": "HTTP/1.1200 OK"}.items():
            self.add("response/status-line/whitespace/" + k, line + "\r\nContent-Length: 0\r\n\r\n")
        self.add("response/status-line/leading-crlf/one", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.add("response/status-line/leading-crlf/two", "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.add("response/status-line/http09-body-only", "<html>hello</html>")

        # Messages without a body whose fields say otherwise
        self.add("response/no-body/204-cl", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n" + rs(200, fields=[("Content-Length", "1")], body="x"))
        self.add("response/no-body/304-cl", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n" + rs(200, fields=[("Content-Length", "1")], body="x"))
        self.add("response/no-body/304-te", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n" + rs(200, fields=[("Content-Length", "1")], body="x"))
        for code in [100, 102, 103, 150, 199]:
            self.add("response/no-body/1xx-cl/%d" % code, "HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % code + rs(200, fields=[("Content-Length", "1")], body="x"))
            self.add("response/no-body/1xx-te/%d" % code, "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n" % code + rs(200, fields=[("Content-Length", "1")], body="x"))
            self.add("response/no-body/1xx-plain/%d" % code, "HTTP/1.1 %d X\r\n\r\n" % code + rs(200, fields=[("Content-Length", "1")], body="x"))

        # Bytes after a response that closes the connection
        self.add("response/after-close/http11-close", rs(200, fields=[("Connection", "close"), ("Content-Length", "1")], body="x") + rs(200, fields=[("Content-Length", "0")]))
        self.add("response/after-close/http10", rs(200, version="HTTP/1.0", fields=[("Content-Length", "1")], body="x") + rs(200, fields=[("Content-Length", "0")]))
        self.add("response/after-close/stray-crlf", rs(200, fields=[("Connection", "close"), ("Content-Length", "1")], body="x") + "\r\n")
        self.add("response/after-keep-alive/stray-crlf", rs(200, fields=[("Content-Length", "1")], body="x") + "\r\n")

        # 101
        self.add("response/upgrade/no-upgrade-field", "HTTP/1.1 101 Switching Protocols\r\n\r\nbytes")
        self.add("response/upgrade/with-content-length", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello")
        self.add("response/upgrade/http10", "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nbytes")

        # Random mutations of valid responses: insert, delete or replace one byte.
        specials = "\x00\t\n\r :;,\"\\/\x7f\x80\xff 0"
        for i in range(400):
            base = self.valid_response()
            pos = R.randrange(len(base))
            op = R.choice(["insert", "delete", "replace"])
            c = R.choice(specials) if R.random() < 0.7 else chr(R.randint(0, 255))
            if op == "insert":
                data = base[:pos] + c + base[pos:]
            elif op == "delete":
                data = base[:pos] + base[pos + 1:]
            else:
                data = base[:pos] + c + base[pos + 1:]
            self.add("response/mutation/%s/%d" % (op, i), data)


def build_response_corpus(seed):
    c = ResponseCorpus(seed + 1)
    c.valid()
    c.malicious()
    return c.cases


def run_llhttp_response(data):
    import httptools

    class Proto:
        def __init__(self):
            self.responses = []
            self.current = None

        def on_message_begin(self):
            self.current = {"status": None, "reason": b"", "version": None, "headers": [], "trailers": [], "body": b"",
                            "keepAlive": None, "complete": False, "headersDone": False}

        def on_status(self, status):
            self.current["reason"] += status

        def on_header(self, name, value):
            # After the head, llhttp reports trailer fields the same way.
            self.current["trailers" if self.current["headersDone"] else "headers"].append((name, value))

        def on_headers_complete(self):
            c = self.current
            c["headersDone"] = True
            c["status"] = parser.get_status_code()
            c["version"] = parser.get_http_version()
            c["keepAlive"] = parser.should_keep_alive()
            self.responses.append(c)

        def on_body(self, body):
            self.current["body"] += body

        def on_message_complete(self):
            self.current["complete"] = True
            self.current = None

    proto = Proto()
    parser = httptools.HttpResponseParser(proto)
    result = {"status": "accepted", "upgrade": False}
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade as e:
        result["status"] = "upgrade"
        result["tunnel"] = data[e.args[0]:].hex()
    except httptools.HttpParserError as e:
        result["status"] = "rejected"
        result["error"] = "%s: %s" % (type(e).__name__, e)
    if result["status"] == "accepted" and proto.current is not None:
        result["status"] = "incomplete"
    result["requests"] = [normalise(r) for r in proto.responses]
    return result


def normalise(r):
    # RFC 9112 §5: trailing OWS is not part of a field value (llhttp keeps it).
    def fields(fs):
        return [[n.decode("utf-8", "replace"), v.rstrip(b" \t").decode("utf-8", "replace")] for n, v in fs]
    return {"status": r["status"], "reason": r["reason"].decode("utf-8", "replace"), "version": r["version"],
            "headers": fields(r["headers"]), "trailers": fields(r["trailers"]), "body": r["body"].hex(),
            "keepAlive": r["keepAlive"], "complete": r["complete"]}


RESPONSE_KEYS = ("status", "reason", "version", "headers", "trailers", "body", "keepAlive", "complete")


def flaks_response_result(r):
    """ParseDump's JSON for a response case, in the shape compare_responses and describe expect."""
    r["requests"] = [{k: q[k] for k in RESPONSE_KEYS} for q in r.pop("responses")]
    return r


def compare_responses(flaks, ll):
    """Returns None when the two agree, else a short description of the first difference."""
    if flaks["status"] != ll["status"]:
        return "outcome"
    if flaks["status"] == "upgrade" and flaks.get("tunnel") != ll.get("tunnel"):
        return "tunnel"
    a_all, b_all = flaks["requests"], ll["requests"]
    if len(a_all) != len(b_all):
        return "response count"
    for i, (a, b) in enumerate(zip(a_all, b_all)):
        for key in RESPONSE_KEYS:
            # llhttp reports each trailer line as it completes, Flaks the whole section at its end:
            # the trailers of a response the input cut short are not compared.
            if key == "trailers" and not (a["complete"] and b["complete"]):
                continue
            if a[key] != b[key]:
                return "response %d %s" % (i, key)
    return None
