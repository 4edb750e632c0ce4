#!/usr/bin/env bash
# Builds and tests the example packages (they depend on Flaks by path). Each keeps its build
# directory inside itself (--scratch-path .build, ignored by .gitignore's ".build/").
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in Examples/TodoService; do
  echo "== $dir"
  (cd "$dir" && swift build --scratch-path .build && swift test --scratch-path .build)
done
