import Sanitizer
import Testing
import Vision

/// SAFREE spec §12 and §7: the worked example and the t′ table.
@Suite struct WorkedExampleTests {
    static let toxic = Subspace(spanning: [[1, 0, 0, 0], [1, 1, 0, 0]], dimension: 4)
    static let masked: [[Double]] = [[2, 1, 1, 0], [1, 0, 3, 4], [2, 2, 0, 2]]
    static let embeddings: [[Float]] = [
        [2, 2, 0, 1], [1, 1, 1, 0], [3, 1, 1, 1], [1, 1, 0, 2], [2, 2, 1, 1], [2, 2, 1, 1],
    ]

    @Test func workedExample() {
        let result = applySAFREE(
            embeddings: Self.embeddings, contentCount: 3, masked: Self.masked, toxic: Self.toxic,
            settings: SAFREESettings())
        #expect(result.distances.map { ($0 * 1e6).rounded() / 1e6 } == [1, 5, 2])
        #expect(zip(result.thresholds, [3.535, 1.515, 3.030]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(result.triggerPositions == [2])
        let row2 = result.sanitized[2]
        #expect(abs(row2[0]) < 1e-6 && abs(row2[1]) < 1e-6)
        #expect(abs(Double(row2[2]) - 1.283019) < 1e-6 && abs(Double(row2[3]) - 0.886792) < 1e-6)
        for p in [0, 1, 3, 4, 5] { #expect(result.sanitized[p] == Self.embeddings[p]) }
        #expect(abs(result.beta - 0.4869296419) < 1e-6)
        #expect(result.tPrime == 1)
        var artists = SAFREESettings(conceptSet: "artists-VanGogh")
        artists.alpha = 0.01
        #expect(artists.tPrime(beta: result.beta) == 0)
    }

    @Test(arguments: [
        (0.30, 0), (0.45, 0), (0.50, 2), (0.52, 3), (0.533, 5), (0.55, 7), (0.60, 10), (0.70, 10), (1.0, 10),
    ])
    func tPrimeTable(beta: Double, expected: Int) {
        #expect(SAFREESettings().tPrime(beta: beta) == expected)
    }

    @Test func projectorsAreOrthogonalProjections() {
        let span = Subspace(spanning: Self.masked, dimension: 4)
        #expect(span.rank == 3 && Self.toxic.rank == 2)
        // P² = P and symmetry, checked on the unit vectors; trace = rank.
        var trace = 0.0
        for i in 0..<4 {
            var e = [Double](repeating: 0, count: 4)
            e[i] = 1
            let p = span.project(e)
            trace += p[i]
            #expect(zip(span.project(p), p).allSatisfy { abs($0 - $1) < 1e-10 })
            for j in 0..<4 {
                var f = [Double](repeating: 0, count: 4)
                f[j] = 1
                #expect(abs(span.project(f)[i] - p[j]) < 1e-10)
            }
        }
        #expect(abs(trace - 3) < 1e-10)
        // Repeated vectors do not raise the rank.
        #expect(Subspace(spanning: [[1, 2, 3, 4], [2, 4, 6, 8], [1, 2, 3, 4]], dimension: 4).rank == 1)
    }

    @Test func edgeCases() {
        let empty = applySAFREE(
            embeddings: Array(Self.embeddings.prefix(3)), contentCount: 0, masked: [], toxic: Self.toxic,
            settings: SAFREESettings())
        #expect(empty.skipped == "empty_prompt" && empty.tPrime == -1 && empty.triggerPositions.isEmpty)
        let single = applySAFREE(
            embeddings: Array(Self.embeddings.prefix(4)), contentCount: 1, masked: [Self.masked[0]], toxic: Self.toxic,
            settings: SAFREESettings())
        #expect(single.looUndefined && single.triggerPositions == [1])
    }
}
