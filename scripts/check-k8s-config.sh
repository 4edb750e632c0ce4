#!/usr/bin/env bash
# Proves that the manifest embedded in deploy/kubernetes/configmap.yaml loads in the image:
# extracts data["config.yaml"], lays out a copy of the image's /srv/flaks (the repository's
# config.yaml and sites/, as the Dockerfile copies them) under a temp dir, points the manifest's
# absolute /srv/flaks/ paths there, and runs `flaks check` on it.
#
#   scripts/check-k8s-config.sh                  # uses .build/debug/flaks (run `swift build` first)
#   FLAKS_BIN=.build/release/flaks PYTHON=/tmp/venv/bin/python scripts/check-k8s-config.sh
#
# PYTHON must have PyYAML (kubernetes-validate depends on it, so its venv does).
set -euo pipefail
cd "$(dirname "$0")/.."
flaks=${FLAKS_BIN:-.build/debug/flaks}
python=${PYTHON:-python3}
configmap=deploy/kubernetes/configmap.yaml

[ -x "$flaks" ] || { echo "check-k8s-config: $flaks not found (run swift build, or set FLAKS_BIN)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/flaks-k8s-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/srv/flaks
mkdir -p "$root/config"
cp config.yaml "$root/config.yaml"
cp -R sites "$root/sites"

"$python" - "$configmap" "$root/config/config.yaml" <<'PY'
import sys, yaml
src, dst = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
maps = [d for d in docs if d.get("kind") == "ConfigMap" and "config.yaml" in (d.get("data") or {})]
if len(maps) != 1:
    sys.exit(f"{src}: expected one ConfigMap with data.config.yaml, found {len(maps)}")
open(dst, "w").write(maps[0]["data"]["config.yaml"])
PY

# Every absolute path the manifest names under /srv/flaks/ must be something the image holds.
sed -i "s#/srv/flaks/#$root/#g" "$root/config/config.yaml"

echo "check-k8s-config: $flaks check --config <data[\"config.yaml\"] of $configmap>"
if "$flaks" check --config "$root/config/config.yaml"; then
  echo "check-k8s-config: ok"
else
  offset=$(grep -n '^  config\.yaml: |' "$configmap" | cut -d: -f1)
  echo "check-k8s-config: the ConfigMap's manifest does not load against the image layout" \
       "(paths under $root stand for /srv/flaks; line N of config.yaml is line N+${offset:-?}" \
       "of $configmap)" >&2
  exit 1
fi
