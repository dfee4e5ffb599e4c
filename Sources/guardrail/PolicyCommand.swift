import ArgumentParser
import Foundation
import GuardrailEngine
import Policy
import Vision

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Work with policy files.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file or folder and show its policies, rules and token pieces.",
            discussion: "Errors name the file, the key path or line, and the reason; the exit status is 1 then."
        )

        @Argument(help: "A policy file or folder.")
        var path: String

        @Option(
            help: ArgumentHelp(
                "A model (folder or repo id) whose tokenizer shows each rule's token count and pieces.",
                valueName: "path-or-id"))
        var model = "openai/clip-vit-base-patch32"

        @Flag(help: "Print JSON instead of text.")
        var json = false

        struct RuleLine: Encodable {
            var id: String
            var kind: String
            var text: String
            var tokens: Int?
            var pieces: Int?
        }

        struct PolicyLine: Encodable {
            var id: String
            var name: String
            var threshold: Float?
            var rules: [RuleLine]
        }

        func run() throws {
            let set: PolicySet
            do {
                set = try PolicySet.load(path)
            } catch {
                Output.error(error.description)
                throw ExitCode(1)
            }
            // Without a tokenizer the rules are still validated and listed, only the chunking is missing.
            var tokenizer: CLIPTokenizer?
            do {
                tokenizer = try ModelBundle(model).loadTokenizer()
            } catch {
                Output.error("no tokenizer for \(model) (\(error)): token counts and pieces are not shown")
            }
            let lines = set.policies.map { policy in
                PolicyLine(
                    id: policy.id, name: policy.name, threshold: policy.threshold?.value,
                    rules: [("blocked", policy.blocked), ("allowed", policy.allowed)].flatMap { kind, rules in
                        rules.map { rule in
                            let tokens = tokenizer.map { $0.encode(rule.text).count - 2 }
                            let pieces = tokenizer.map { PolicyEncoder.pieces(rule.text, tokenizer: $0).count }
                            return RuleLine(id: rule.id, kind: kind, text: rule.text, tokens: tokens, pieces: pieces)
                        }
                    })
            }
            if json {
                try Output.jsonLine(lines)
                return
            }
            print("\(set.name) \(set.version) (\(set.policies.count) policies, sha256 \(set.sha256.prefix(12)))")
            for policy in lines {
                let threshold = policy.threshold.map { "threshold \($0)" } ?? "uncalibrated"
                print("\(policy.id)  \(policy.name)  [\(threshold)]")
                for rule in policy.rules {
                    let chunking =
                        rule.tokens.map { "  (\($0) tokens, \(rule.pieces!) piece\(rule.pieces! == 1 ? "" : "s"))" }
                        ?? ""
                    print("  \(rule.kind == "blocked" ? "✗" : "✓") \(rule.id): \(rule.text)\(chunking)")
                }
            }
        }
    }
}
