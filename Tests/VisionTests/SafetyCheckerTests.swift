import Foundation
import TestSupport
import Testing
import Vision

@Suite struct SafetyCheckerTests {
    /// Decisions and scores identical to diffusers' StableDiffusionSafetyChecker on the same pixels.
    @Test func matchesDiffusers() throws {
        let folder = Fixtures.path("models/safety-checker-tiny")
        let checker = try StableDiffusionSafetyChecker(folder: folder)
        let golden = try SafeTensors.read(path: Fixtures.path("goldens/vision/safety-checker-tiny.safetensors"))
        let pixels = try #require(golden["pixel_values"])
        let comparison = TensorComparison(try checker.imageEmbeds(pixels), try #require(golden["image_embeds"]))
        #expect(comparison.relative <= 1e-4 && comparison.minRowCosine >= 0.99999, "\(comparison)")
        let results = try checker.check(pixels)
        let expected = try #require(golden["has_nsfw_concept"]).scalars.map { $0 != 0 }
        #expect(results.map(\.hasNSFWConcept) == expected)
        // The fixture's thresholds make both outcomes, and the special-care adjustment, occur.
        #expect(expected.contains(true) && expected.contains(false))
        #expect(results.filter { !$0.specialCare.isEmpty }.count == 1)
        // Scores: cosine − threshold (+ 0.01 after a special-care match), to 3 decimals.
        let weights = try SafeTensors.read(path: folder + "/model.safetensors")
        let threshold = try #require(weights["concept_embeds_weights"]).scalars
        let cosines = try #require(golden["concept_cos"]).scalars
        for (i, result) in results.enumerated() {
            let adjustment: Float = result.specialCare.isEmpty ? 0 : 0.01
            for k in 0..<17 {
                let reference = (cosines[i * 17 + k] - threshold[k] + adjustment) * 1000
                #expect(abs(result.conceptScores[k] * 1000 - reference) <= 0.5 + 1e-3, "image \(i) concept \(k)")
            }
        }
    }
}
