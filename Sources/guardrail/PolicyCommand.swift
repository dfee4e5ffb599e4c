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
            let lines = PolicySummary.summaries(of: set, tokenizer: tokenizer)
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
