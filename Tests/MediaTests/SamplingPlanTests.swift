import Testing

@testable import Media

/// Sampling plans stay bounded whatever duration a file claims (a fuzzer-found file with
/// timestamps 42949673 s apart made the grid a set of 257 million points, 1.6 GB).
@Suite struct SamplingPlanTests {
    @Test func plansDoNotGrowWithTheStatedDuration() {
        let capped = TargetPlan.grid(start: 0, end: 1e12, step: 0.5, maxFrames: 64)
        #expect(capped.times?.count == 64)
        var uncapped = TargetPlan.grid(start: 0, end: 1e12, step: 0.5, maxFrames: nil)
        #expect(uncapped.times == nil && uncapped.count == 2_000_000_000_000)
        uncapped.skip(through: 4.2e7)
        #expect(uncapped.peek() == 42_000_000.5)
        #expect(TargetPlan.thinned(count: Int.max / 2, maxFrames: 3)?.count == 3)
        #expect(TargetPlan.thinned(count: 5, maxFrames: 8) == nil)
        // The thinning rule itself: floor((i + 0.5) · N / F).
        #expect(TargetPlan.thinned(count: 10, maxFrames: 4) == [1, 3, 6, 8])
        var grid = TargetPlan.grid(start: 1, end: 3, step: 0.5, maxFrames: nil)
        var times: [Double] = []
        while let time = grid.next() { times.append(time) }
        #expect(times == [1, 1.5, 2, 2.5])
    }
}
