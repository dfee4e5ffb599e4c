import TestSupport
import Testing
import Vision

/// The shared-prefix masked re-encoding equals encoding every masked sequence whole.
@Suite struct SharedPrefixTests {
    @Test(arguments: ["a photo of a cat on a sofa", "x", String(repeating: "long prompt ", count: 60)])
    func matchesFullReencoding(prompt: String) throws {
        let model = try CLIPModel(folder: Fixtures.path("models/sd-tiny/text_encoder"))
        let tokenizer = try CLIPTokenizer(folder: Fixtures.path("models/sd-tiny/tokenizer"))
        let text = try #require(model.text)
        let ids = tokenizer.encodePadded(prompt).ids
        let n = ids.firstIndex(of: tokenizer.endToken)! - 1
        let shared = try text.encodeWithMaskedTokens(ids, contentCount: n, maskID: 0)
        let full = try #require(try model.encodeTexts([ids]).lastHiddenState)
        #expect(TensorComparison(shared.lastHiddenState, full).maxAbsDiff <= 1e-5)
        let sequences = (0..<n).map { i -> [Int] in
            var s = Array(ids[0..<(n + 2)])
            s[i + 1] = 0
            return s
        }
        let reference = try model.encodeTexts(sequences, hiddenStates: false).pooled
        let comparison = TensorComparison(shared.maskedPooled, reference)
        #expect(comparison.maxAbsDiff <= 1e-5, "\(comparison)")
    }
}
