import Foundation
import TestSupport
import Testing

/// The `guardrail` executable as a user runs it: exit statuses, output order and JSON shapes.
@Suite struct CLITests {
    /// Runs the executable with a private cache folder.
    static func run(_ arguments: [String]) throws -> GuardrailRun { try GuardrailRun.run(arguments) }

    static let model = Fixtures.path("models/clip-b16-tiny")
    static let policies = Fixtures.path("policies/test-policies.json")
    static let scan = ["scan", "--model", model, "--policy", policies]

    @Test func exitStatuses() throws {
        let image = Fixtures.path("images/rgb8.png")
        #expect(try Self.run(Self.scan + [image]).status == 0)
        // Flagged: 0 without --fail-on-flag, 1 with it.
        let low = ["--threshold", "A=-1", "--threshold", "B=-1", "--threshold", "C=-1"]
        #expect(try Self.run(Self.scan + low + [image]).status == 0)
        #expect(try Self.run(Self.scan + low + ["--fail-on-flag", image]).status == 1)
        // A file that cannot be read: 2, after the others are reported.
        let failed = try Self.run(Self.scan + [image, Fixtures.path("corrupt/truncated.mp4")])
        #expect(failed.status == 2 && failed.objects.count == 2)
        // A model or policy that does not load: 2, with the reason on stderr.
        let badModel = try Self.run(["scan", "--model", Fixtures.path("images"), "--policy", Self.policies, image])
        #expect(badModel.status == 2 && badModel.stderr.contains("config.json not found"))
        let badPolicy = try Self.run([
            "scan", "--model", Self.model, "--policy", Fixtures.path("corrupt/text.jpg"), image,
        ])
        #expect(badPolicy.status == 2 && badPolicy.stderr.contains("policy"))
        // Malformed arguments: ArgumentParser's usage status, with the reason.
        for arguments in [["--format", "xml"], ["--every", "fast"], ["--jobs", "0"], ["--threshold", "A"]] {
            let run = try Self.run(Self.scan + arguments + [image])
            #expect(run.status == 64 && !run.stderr.isEmpty && run.stdout.isEmpty, "\(arguments)")
        }
    }

    /// With four jobs the lines come in input order, errors in place, and match a one-job run.
    @Test func jobsPrintInInputOrder() throws {
        let files = [
            "video/shots.mp4", "images/rgb8.png", "corrupt/text.jpg", "video/vp9.webm", "images/exif6.jpg",
            "images/animated.gif", "video/rotate90.mp4", "images/lossy.webp",
        ].map(Fixtures.path)
        let parallel = try Self.run(Self.scan + ["--jobs", "4"] + files)
        // As --jobs 4 runs each scan: OpenBLAS's sums (CPUs without AVX-512) depend on the threads.
        let serial = try Self.run(Self.scan + ["--threads", "1"] + files)
        #expect(parallel.status == 2 && serial.status == 2)
        #expect(parallel.objects.map { $0["path"] as? String } == files)
        #expect(parallel.stdout == serial.stdout)
    }

    /// A copy of the binary run from another folder finds the shipped packs (the engine module's
    /// resources), and `$GUARDRAIL_POLICIES` still overrides them.
    @Test func copiedBinaryFindsTheShippedPacks() throws {
        let folder = try temporaryFolder("cli-installed")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let copy = folder + "/guardrail"
        try FileManager.default.copyItem(atPath: Fixtures.guardrailExecutable, toPath: copy)
        let image = Fixtures.path("images/rgb8.png")
        let shipped = try GuardrailRun.run(
            ["scan", "--model", Self.model, image], executable: copy, directory: folder,
            environment: ["GUARDRAIL_POLICIES": nil])
        #expect(shipped.status == 0, "\(shipped.stderr)")
        let categories = (shipped.objects.first?["categories"] as? [String: Any]).map { Set($0.keys) }
        #expect(categories?.count == 11 && categories?.contains("Hate") == true, "\(shipped.stdout)")
        let packs = folder + "/packs"
        try FileManager.default.createDirectory(atPath: packs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.policies, toPath: packs + "/unsafebench.json")
        let overridden = try GuardrailRun.run(
            ["scan", "--model", Self.model, image], executable: copy, directory: folder,
            environment: ["GUARDRAIL_POLICIES": packs])
        #expect(overridden.status == 0, "\(overridden.stderr)")
        let names = (overridden.objects.first?["categories"] as? [String: Any]).map { Set($0.keys) }
        #expect(names != nil && names != categories, "\(overridden.stdout)")
    }

    /// Every duration option of every command refuses what is not a finite number in its range with
    /// a usage error naming it (`--timeout 1e13` once trapped converting to microseconds); the rest
    /// of each command line is valid, so the bound is what refuses it.
    @Test func numericOptionsAreBounded() throws {
        let image = Fixtures.path("images/rgb8.png")
        let manifest = Fixtures.path("bench/set/manifest.csv")
        let commands: [(base: [String], flags: [String])] = [
            (Self.scan + [image], ["--timeout"]),
            (["detect", image], ["--timeout"]),
            (["probe", image], ["--timeout"]),
            (["frames", image], ["--timeout", "--max-duration"]),
            (["bench", "--dataset", manifest, "--model", Self.model], ["--timeout"]),
            (["calibrate", "--dataset", manifest, "--model", Self.model], ["--timeout"]),
            (["train-heads", "--dataset", manifest, "--model", Self.model, "--out", "h"], ["--timeout"]),
            (["serve", "--model", Self.model], ["--timeout", "--request-timeout", "--shutdown-grace", "--lease"]),
            (
                ["worker", "--model", Self.model, "--jobs-db", "postgres://127.0.0.1:1/x"],
                ["--timeout", "--shutdown-grace", "--lease"]
            ),
        ]
        for (base, flags) in commands {
            for flag in flags {
                for value in ["inf", "1e13", "-1", "nan"] {
                    let run = try Self.run(base + [flag + "=" + value])
                    #expect(run.status == 64 && run.stderr.contains("\(flag) takes"), "\(base[0]) \(flag) \(value)")
                }
            }
        }
        for command in [["detect", image], ["bench", "--dataset", manifest, "--model", Self.model]] {
            let run = try Self.run(command + ["--threads", "0"])
            #expect(run.status == 64 && run.stderr.contains("--threads takes"), "\(command[0]) --threads 0")
        }
    }

    @Test func emptyFolderScansNothing() throws {
        let folder = try temporaryFolder("cli-empty")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try Self.run(Self.scan + [folder])
        #expect(run.status == 0 && run.stdout.isEmpty && run.stderr.contains("no files"))
    }

    /// The keys scripts rely on.
    @Test func scanJSONShape() throws {
        let lines = try Self.run(Self.scan + [Fixtures.path("images/rgb8.png"), Fixtures.path("corrupt/empty.png")])
        let report = try #require(lines.objects.first)
        #expect(
            Set(report.keys) == [
                "path", "engine", "video", "guardrail", "policies", "pruning", "unsafe", "flagged", "categories",
                "category_scores",
            ])
        let engine = try #require(report["engine"] as? [String: Any])
        #expect((engine["model_sha256"] as? String)?.count == 64)
        #expect(["avx512-packed", "avx2-packed", "openblas"].contains(engine["kernel"] as? String))
        let error = try #require(lines.objects.last?["error"] as? [String: Any])
        #expect(Set(error.keys) == ["kind", "function", "code", "message"] && error["kind"] as? String == "truncated")
        let document = try Self.run(Self.scan + ["--format", "json", Fixtures.path("images/rgb8.png")])
        let parsed = try JSONSerialization.jsonObject(with: Data(document.stdout.utf8)) as? [String: Any]
        #expect((parsed?["results"] as? [Any])?.count == 1 && (parsed?["errors"] as? [Any])?.isEmpty == true)
    }

    @Test func embedJSONShape() throws {
        let run = try Self.run([
            "embed", "--model", Self.model, Fixtures.path("images/rgb8.png"), Fixtures.path("corrupt/empty.png"),
            "--patches", "--text", "a photo", "--hidden",
        ])
        #expect(run.status == 1)  // one image could not be read
        let lines = run.objects
        #expect(lines.count == 3)
        #expect(Set(lines[0].keys) == ["error", "path"])
        #expect(Set(lines[1].keys) == ["path", "image_embeds", "patch_embeds"])
        #expect(Set(lines[2].keys) == ["text", "input_ids", "truncated", "text_embeds", "pooled", "last_hidden_state"])
        #expect(try Self.run(["embed", "--model", Self.model]).status == 64)
    }

    @Test func sanitizeJSONShapeAndEmptyPrompts() throws {
        let folder = try temporaryFolder("cli-sanitize")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let encoder = Fixtures.path("models/sd-tiny")
        let run = try Self.run([
            "sanitize", "--text-encoder", encoder, "--json", "a red car", "--out", folder + "/e.safetensors",
        ])
        #expect(run.status == 0 && FileManager.default.fileExists(atPath: folder + "/e.safetensors"))
        let report = try #require(run.objects.first)
        for key in ["prompt", "input_ids", "tokens", "trigger_positions", "beta", "t_prime", "changed", "cosine"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        // A prompt file of blank lines is refused with a reason, and nothing is written.
        try "\n\n   \n\n".replacingOccurrences(of: "   ", with: "").write(
            toFile: folder + "/blank.txt", atomically: true, encoding: .utf8)
        let blank = try Self.run([
            "sanitize", "--text-encoder", encoder, "--prompt-file", folder + "/blank.txt", "--out",
            folder + "/b.safetensors",
        ])
        #expect(blank.status == 2 && blank.stderr.contains("no prompts"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/b.safetensors"))
    }

    /// Duplicate policy names are refused by `policy check` as by `scan`.
    @Test func duplicatePolicyNames() throws {
        let folder = try temporaryFolder("cli-names")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try
            #"{"name": "x", "version": "1", "policies": [{"id": "a", "name": "Same", "blocked": ["r"]}, {"id": "b", "name": "Same", "blocked": ["s"]}]}"#
            .write(toFile: folder + "/p.json", atomically: true, encoding: .utf8)
        let check = try Self.run(["policy", "check", folder + "/p.json"])
        #expect(check.status == 1 && check.stderr.contains("duplicate policy name Same"))
        let scan = try Self.run([
            "scan", "--model", Self.model, "--policy", folder + "/p.json", Fixtures.path("images/rgb8.png"),
        ])
        #expect(scan.status == 2 && scan.stderr.contains("duplicate policy name Same"))
    }
}
