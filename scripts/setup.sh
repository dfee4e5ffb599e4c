#!/usr/bin/env bash
# Installs the system packages the engine needs on Debian 12 and builds the release binaries.
#   bash scripts/setup.sh              install packages, then swift build -c release
#   bash scripts/setup.sh --deps-only  install packages only (what CI needs before swift test)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    pkg-config
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev  # FFmpeg 5.1: video and other image formats
    libpng-dev libturbojpeg0-dev libwebp-dev                       # PNG, JPEG, WebP decoded the way Pillow does
    libopenblas-dev                                                # cblas_sgemm for the CLIP encoders
    zlib1g-dev                                                     # the gzipped OpenAI BPE vocabulary
    ffmpeg                                                         # the CLI: benchmarks and fixture generation only
)

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

if [ "${1:-}" != "--deps-only" ]; then
    swift build -c release
    echo "built: .build/release/guardrail and .build/release/guardrail-bench"
fi
