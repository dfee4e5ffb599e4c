#!/usr/bin/env bash
# Installs the system packages the engine needs on Debian 12 and builds the release binaries.
#   bash scripts/setup.sh              install packages, fetch NudeNet's detector, then swift build -c release
#   bash scripts/setup.sh --deps-only  install packages only (what CI needs before swift test)
#   bash scripts/setup.sh --test-deps  install PostgreSQL, the job-queue tests' server (scripts/test_postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    pkg-config
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev  # FFmpeg 5.1: video and other image formats
    libpng-dev libturbojpeg0-dev libwebp-dev                       # PNG, JPEG, WebP decoded the way Pillow does
    libopenblas-dev                                                # cblas_sgemm for the CLIP encoders
    zlib1g-dev                                                     # the gzipped OpenAI BPE vocabulary
    libsqlite3-dev                                                 # the server's job store (GRDB)
    ffmpeg                                                         # the CLI: benchmarks and fixture generation only
)

if [ "${1:-}" = "--test-deps" ]; then
    packages=(postgresql)  # the job-queue tests' server (a throwaway cluster; the package's own stays down)
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "swift is not on PATH: install Swift 6.x for Debian 12 (the toolchain is not an apt package)" >&2
    exit 1
fi

# NudeNet's detector (MIT licence): 320n.onnx from its PyPI wheel, checked by SHA-256. The engine
# runs the ONNX graph itself; no Python is needed afterwards. Skipped (with a note) without pip.
fetch_nudenet() {
    local cache="${GUARDRAIL_CACHE:-${XDG_CACHE_HOME:+$XDG_CACHE_HOME/guardrail}}"
    local models="${GUARDRAIL_MODELS:-${cache:-$HOME/.cache/guardrail}/models}/nudenet-3.4.2"
    local target="$models/320n.onnx"
    local expected=c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f
    if [ -f "$target" ] && echo "$expected  $target" | sha256sum -c --status; then
        echo "NudeNet detector: $target (SHA-256 verified)"
        return
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "note: python3 -m pip is not available, so NudeNet's detector was not fetched (guardrail detect needs it)" >&2
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    if ! python3 -m pip download --no-deps --quiet nudenet==3.4.2 -d "$tmp"; then
        echo "note: the nudenet wheel could not be downloaded, so guardrail detect and detector rules are unavailable" >&2
        rm -rf "$tmp"
        return
    fi
    python3 -c "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('nudenet/320n.onnx'))" \
        "$tmp"/nudenet-3.4.2-*.whl "$tmp/320n.onnx"
    if ! echo "$expected  $tmp/320n.onnx" | sha256sum -c --status; then
        echo "the wheel's 320n.onnx does not have the expected SHA-256 ($expected): not installed" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$models"
    mv "$tmp/320n.onnx" "$target"
    rm -rf "$tmp"
    echo "NudeNet detector: $target (fetched from the nudenet 3.4.2 wheel, SHA-256 verified)"
}

if [ -z "${1:-}" ]; then
    fetch_nudenet
    swift build -c release
    echo "built: .build/release/guardrail and .build/release/guardrail-bench"
fi
