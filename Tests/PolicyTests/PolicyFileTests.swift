import Foundation
import Policy
import Testing

@Suite struct PolicyFileTests {
    func error(_ json: String) -> PolicyError? {
        do {
            _ = try PolicySet(data: Data(json.utf8), path: "test.json")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (#"{"version":"1","policies":[]}"#, "name"),
        (#"{"name":"x","version":"1","policies":[]}"#, "policies"),
        (#"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":[]}]}"#, "policies[0].blocked"),
        (
            #"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":["r"]},{"id":"a","name":"B","blocked":["r"]}]}"#,
            "policies[1].id"
        ),
        (#"{"name":"x","version":"1","policies":[{"id":"a","blocked":["r"]}]}"#, "policies[0].name"),
        (#"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":[" "]}]}"#, "policies[0].blocked[0]"),
        (
            #"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":[{"id":"k"}]}]}"#,
            "policies[0].blocked[0].text"
        ),
        (
            #"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":["r"],"threshold":{"value":"high"}}]}"#,
            "policies[0].threshold.value"
        ),
        (
            #"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":["r"],"threshold":{"value":0.2,"settings":{"prompt_batch":8}}}]}"#,
            "policies[0].threshold.settings"
        ),
        (
            #"{"name":"x","version":"1","policies":[{"id":"a","name":"A","blocked":[{"id":"k","text":"r"}],"allowed":[{"id":"k","text":"s"}]}]}"#,
            "policies[0]"
        ),
        (#"[1, 2]"#, "(top level)"),
    ])
    func errorsNameTheKeyPath(json: String, keyPath: String) throws {
        let found = try #require(error(json), "accepted: \(json)")
        #expect(found.keyPath == keyPath, "\(found)")
        #expect(found.path == "test.json" && !found.reason.isEmpty)
    }

    @Test func syntaxErrorsNameTheLine() throws {
        let found = try #require(error("{\n\"name\": \"x\",\n\"version\": 1,,\n}"))
        #expect(found.reason.contains("line 3"), "\(found)")
    }

    @Test func shippedPacksLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies")
            .path
        let unsafebench = try PolicySet(contentsOf: root + "/unsafebench.json")
        #expect(unsafebench.policies.map(\.name) == UnsafeCategory.allCases.map(\.rawValue))
        #expect(unsafebench.policies.allSatisfy { $0.blocked.count >= 5 })
        let safewatch = try PolicySet(contentsOf: root + "/safewatch.json")
        #expect(
            safewatch.policies.map { "\($0.id)(\($0.name))" } == [
                "C1(Sexual Content)", "C2(Harassment & Bullying)", "C3(Threats, Violence & Harm)",
                "C4(False & Deceptive Information)", "C5(Illegal/Regulated Activities)",
                "C6(Hateful Content & Extremism)",
            ])
        let folder = try PolicySet.load(root)
        #expect(folder.policies.count == 17)
    }
}
