#!/usr/bin/env bash
# fixtures/server/long1080.mp4: a 3 s 1080p60 clip (FFmpeg's testsrc2, H.264) whose scan at every
# frame lasts long enough for the server test to kill the server in the middle of it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fixtures/server
ffmpeg -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=60:duration=3 \
    -c:v libx264 -preset veryfast -crf 45 -g 600 -pix_fmt yuv420p fixtures/server/long1080.mp4
