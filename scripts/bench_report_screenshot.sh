#!/usr/bin/env bash
# Trains heads, calibrates the policies and benchmarks both on the fixture set with the tiny model,
# then renders the HTML report in headless Chromium (Debian's `chromium`) to docs/bench-report.png,
# so the report can be looked at as a browser shows it. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium: apt-get install chromium" >&2; exit 1; }
swift build -c release --product guardrail >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
guardrail=.build/release/guardrail
set=(--dataset fixtures/bench/set/manifest.csv --model fixtures/models/clip-b16-tiny --no-cache)
"$guardrail" train-heads "${set[@]}" --out "$work/heads.safetensors"
"$guardrail" calibrate "${set[@]}" --out "$work/policies.json" > /dev/null
"$guardrail" bench "${set[@]}" --policy "$work/policies.json" --classifier zero-shot \
    --classifier "heads:$work/heads.safetensors" --robustness noise:100 --robustness jpeg:10 \
    --out-html "$work/report.html" > /dev/null
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1900 \
    --screenshot="$PWD/docs/bench-report.png" "file://$work/report.html" 2> /dev/null
echo "wrote docs/bench-report.png"
