#!/usr/bin/env bash
# Large-frame clips for the evidence-box tests (frames larger than twice the model input are
# scaled while decoding; boxes must still come out in the displayed frame's pixels).
# Offline, not in CI: needs the ffmpeg CLI with libx264. Writes fixtures/hd/.
set -euo pipefail
cd "$(dirname "$0")/../fixtures"
mkdir -p hd
encode() {  # size, seconds, output
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=$1:rate=2" -t "$2" \
        -c:v libx264 -preset veryfast -crf 45 -pix_fmt yuv420p -g 2 "$3"
}
encode 1920x1080 1 hd/hd1080.mp4
encode 3840x2160 0.5 hd/uhd.mp4
# FFmpeg 5.1 writes the display matrix from the rotate tag only when stream-copying.
ffmpeg -hide_banner -loglevel error -y -i hd/hd1080.mp4 -c copy -metadata:s:v:0 rotate=90 hd/hd1080_rotate90.mp4
ffmpeg -hide_banner -loglevel error -y -i hd/uhd.mp4 -c copy -metadata:s:v:0 rotate=270 hd/uhd_rotate270.mp4
ls -l hd
