import Foundation
import GuardrailCore
import Media

// The media entry point under a fuzzer. `scripts/fuzz.sh` builds this target with
// `-sanitize=fuzzer,address -D FUZZING`, where libFuzzer's `main` calls `LLVMFuzzerTestOneInput`;
// an ordinary build replays files through the same function (Replay.swift).

/// Limits small enough that one input costs milliseconds, large enough that every code path runs.
private let limits = MediaLimits(maxPixels: 4_000_000, maxFileBytes: 8 << 20, decodeTimeoutSeconds: 2)

/// A per-process scratch file: `MediaSource` reads paths, as uploads arrive.
let scratch = NSTemporaryDirectory() + "guardrail-fuzz-\(getpid())"

/// Any bytes through what a scan does with a file: open and probe, decode the picture and the other
/// pictures a viewer could see (ICO sizes, MPO images, TIFF pages, cover art), sample frames by
/// each strategy. Errors are the expected outcome; a crash, a sanitizer report or a hang
/// is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMedia(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    guard FileManager.default.createFile(atPath: scratch, contents: data) else { return 0 }
    if let source = try? MediaSource(path: scratch, limits: limits) {
        _ = try? source.decodeImage()
        _ = try? source.otherPictures()
    }
    for strategy in [SamplingStrategy.every(seconds: 0.5), .keyframes, .shots(ShotDetection())] {
        let options = SamplingOptions(strategy: strategy, maxFrames: 4, decoderThreads: 1)
        if let source = try? MediaSource(path: scratch, limits: limits),
            let sampler = try? VideoSampler(source: source, options: options)
        {
            while (try? sampler.next()) != nil {}
        }
    }
    return 0
}
