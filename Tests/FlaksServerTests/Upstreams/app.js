// A Node upstream for the proxy tests: echoes method, URL and headers as JSON; /big?n=N sends N bytes.
// Usage: node app.js NAME   (listens on 127.0.0.1:0 and prints its port)
const http = require("http");
const crypto = require("crypto");
const name = process.argv[2] || "node";
const server = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  if (u.pathname === "/big") {
    const n = parseInt(u.searchParams.get("n") || "1024");
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = i % 256;
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": n });
    res.end(buf);
    return;
  }
  const hash = crypto.createHash("sha256");
  let length = 0;
  req.on("data", (d) => { hash.update(d); length += d.length; });
  req.on("end", () => {
    const body = JSON.stringify({ name, method: req.method, path: req.url, headers: req.rawHeaders, length, sha256: hash.digest("hex") });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
