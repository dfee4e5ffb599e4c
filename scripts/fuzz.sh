#!/usr/bin/env bash
# Fuzzes the media entry point (probe + decode + sampling) with libFuzzer and AddressSanitizer.
#   bash scripts/fuzz.sh SECONDS [image|video|gif|tiff|all] [extra libFuzzer flags…]
# Seeds are the fixtures; the corpus grows in .fuzz/corpus-KIND, findings land in .fuzz/findings.
# A finding replays without the fuzzer: .build/debug/guardrail-fuzz .fuzz/findings/crash-…
# Not part of CI (a benchmark-like run, minutes to hours).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz.sh SECONDS [image|video|gif|tiff|all]}
kind=${2:-all}
shift $(( $# >= 2 ? 2 : 1 ))
swift build -c release --product guardrail-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -D -Xswiftc FUZZING \
    -Xcc -fsanitize=fuzzer-no-link,address >&2
corpus=.fuzz/corpus-$kind
mkdir -p "$corpus" .fuzz/findings
seeds=()
case $kind in
    image) seeds=(fixtures/images fixtures/viewer fixtures/corrupt) ;;
    video) seeds=(fixtures/video fixtures/corrupt) ;;
    gif) seeds=(fixtures/gif) ;;
    tiff)
        # libFuzzer runs a file argument once instead of fuzzing it: seeds go in a folder.
        mkdir -p .fuzz/seeds-tiff
        cp fixtures/viewer/*.tiff fixtures/images/*.tiff fixtures/orientation/*.tiff .fuzz/seeds-tiff/
        seeds=(.fuzz/seeds-tiff) ;;
    all) seeds=(fixtures/images fixtures/video fixtures/gif fixtures/viewer fixtures/corrupt) ;;
    *) echo "kind is image, video, gif, tiff or all" >&2; exit 2 ;;
esac
# FFmpeg's own allocations are not instrumented; leaks in them are not ours to chase here.
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 .build-fuzz/release/guardrail-fuzz \
    "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -max_len=1048576 -artifact_prefix=.fuzz/findings/ -print_final_stats=1 "$@"
