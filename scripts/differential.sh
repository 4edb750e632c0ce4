#!/usr/bin/env bash
# Differential test of the request and response parsers against llhttp (Node's parser, via the httptools
# package: HttpRequestParser and HttpResponseParser): installs httptools (a test-only dependency), builds
# ParseDump, runs Tests/Differential/differential.py, which runs both sides.
# Fails on any disagreement not listed in Tests/Differential/known-differences.json, or a stale entry.
# Extra arguments go to the script (e.g. --show-known, --only 'smuggle/*', --seed 7, --mode responses).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import httptools' 2>/dev/null; then
  "$python" -m pip --version >/dev/null
  "$python" -m pip install --quiet httptools \
    || "$python" -m pip install --quiet --break-system-packages httptools
fi
swift build --product ParseDump
exec "$python" Tests/Differential/differential.py --parsedump "$(swift build --show-bin-path)/ParseDump" "$@"
