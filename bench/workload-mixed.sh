#!/usr/bin/env bash
# Mixed traffic for the default config.yaml on 127.0.0.1:$PORT (default 8080): every route kind,
# keep-alive and close, HEAD, ranges, conditionals, errors, CGI in three languages, then wrk.
# Used by bench/hot-functions.sh; handy for a quick look at a running server too.
U=http://127.0.0.1:${PORT:-8080}
for i in 1 2 3; do
  curl -s -o /dev/null $U/ ; curl -s -o /dev/null $U/about.html; curl -s -o /dev/null $U/nope
  curl -s -o /dev/null $U/old; curl -s -o /dev/null $U/hello; curl -s -o /dev/null $U/healthz
  curl -s -o /dev/null $U/status; curl -s -o /dev/null $U/metrics
  curl -s -o /dev/null -H 'Host: docs.localhost' $U/; curl -s -o /dev/null -H 'Host: docs.localhost' $U/guide
  curl -s -o /dev/null -H 'Host: docs.localhost' -H 'Accept-Encoding: gzip, br' $U/assets/docs.css
  curl -s -o /dev/null -H 'Host: app.localhost' $U/some/spa/path
  curl -s -o /dev/null -I $U/about.html
  curl -s -o /dev/null -H 'Range: bytes=0-10' $U/about.html
  curl -s -o /dev/null -H 'Range: bytes=0-10,20-30' $U/about.html
  curl -s -o /dev/null -H 'If-None-Match: "x"' $U/about.html
  e=$(curl -s -D - -o /dev/null $U/about.html | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'); curl -s -o /dev/null -H "If-None-Match: $e" $U/about.html
  curl -s -o /dev/null -X POST $U/about.html
  curl -s -o /dev/null $U/cgi-bin/hello.sh; curl -s -o /dev/null "$U/cgi-bin/env.py/x?y=1"
  curl -s -o /dev/null -d 'a=1&b=2' $U/cgi-bin/form.pl
  curl -s -o /dev/null $U/cgi-bin/wsgi_app.py/
  curl -s -o /dev/null $U/ $U/about.html $U/hello $U/nope   # keep-alive
  curl -s -o /dev/null -H 'Connection: close' $U/
  for req in 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n' 'GET / HTTP/1.0\r\n\r\n'; do
    exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080}; printf "$req" >&3; timeout 2 cat <&3 >/dev/null; exec 3<&-
  done
done
command -v wrk >/dev/null && wrk -t1 -c10 -d2s $U/about.html >/dev/null && wrk -t1 -c10 -d1s $U/hello >/dev/null
