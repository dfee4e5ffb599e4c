import Compute
import Foundation
import GuardrailCore

/// Binary L2-regularised logistic regression, as scikit-learn's `LogisticRegression(C=…,
/// class_weight='balanced')` defines it: minimise ½‖w‖² + C Σᵢ sᵢ log(1 + exp(−yᵢ(w·xᵢ + b))),
/// the intercept unpenalised, sᵢ = n / (2 nₖ) for an item of class k. Solved by Newton's method
/// (Hessian by `dsyrk`, steps by a Cholesky solve, `dposv`) with backtracking, to the optimum
/// rather than to a loose tolerance, so results match any other exact solver.
public struct LogisticRegression: Sendable {
    public var weight: [Double]
    public var bias: Double
    public var iterations: Int

    /// Fits `x` (row-major, `labels.count` rows of `dimension`) to `labels` (true = unsafe).
    /// Both classes must be present.
    public init(x: [Double], dimension: Int, labels: [Bool], c: Double, classWeighted: Bool = true) {
        let n = labels.count
        let p = dimension + 1
        precondition(x.count == n * dimension && n > 0)
        let positives = labels.filter { $0 }.count
        precondition(positives > 0 && positives < n, "logistic regression needs both classes")
        let weights = labels.map { label -> Double in
            guard classWeighted else { return 1 }
            return Double(n) / (2 * Double(label ? positives : n - positives))
        }
        // Rows with a trailing 1 for the intercept.
        var design = [Double](repeating: 1, count: n * p)
        for i in 0..<n {
            for j in 0..<dimension { design[i * p + j] = x[i * dimension + j] }
        }
        var theta = [Double](repeating: 0, count: p)
        func objective(_ theta: [Double]) -> Double {
            var loss = 0.0
            for i in 0..<n {
                var z = 0.0
                for j in 0..<p { z += design[i * p + j] * theta[j] }
                let margin = labels[i] ? z : -z
                // log(1 + exp(−m)) without overflow.
                loss += weights[i] * (margin > 0 ? log1p(exp(-margin)) : -margin + log1p(exp(margin)))
            }
            var penalty = 0.0
            for j in 0..<dimension { penalty += theta[j] * theta[j] }
            return 0.5 * penalty + c * loss
        }
        var current = objective(theta)
        var iteration = 0
        var scaled = [Double](repeating: 0, count: n * p)
        while iteration < 100 {
            iteration += 1
            var gradient = [Double](repeating: 0, count: p)
            for j in 0..<dimension { gradient[j] = theta[j] }
            for i in 0..<n {
                var z = 0.0
                for j in 0..<p { z += design[i * p + j] * theta[j] }
                let prob = 1 / (1 + exp(-z))
                let residual = c * weights[i] * (prob - (labels[i] ? 1 : 0))
                let curvature = (c * weights[i] * prob * (1 - prob)).squareRoot()
                for j in 0..<p {
                    gradient[j] += residual * design[i * p + j]
                    scaled[i * p + j] = curvature * design[i * p + j]
                }
            }
            if gradient.map(abs).max()! < 1e-11 * max(1, c * Double(n)) { break }
            // H = diag(1…1, 0) + Σ curvature² x̃x̃ᵀ, lower triangle, column-major = row-major upper.
            var hessian = LAPACK.gramUpper(rowMajor: scaled, rows: n, columns: p)
            for j in 0..<dimension { hessian[j * p + j] += 1 }
            // A tiny ridge keeps the intercept's pivot positive when every probability saturates.
            hessian[p * p - 1] += 1e-12
            var step = gradient
            guard LAPACK.choleskySolve(&hessian, &step, order: p) else { break }
            var length = 1.0
            var accepted = false
            while length > 1e-10 {
                let candidate = zip(theta, step).map { $0 - length * $1 }
                let value = objective(candidate)
                if value <= current {
                    (theta, current, accepted) = (candidate, value, true)
                    break
                }
                length /= 2
            }
            if !accepted { break }
        }
        weight = Array(theta[0..<dimension])
        bias = theta[dimension]
        iterations = iteration
    }

    /// The probability of the positive class for each row of `x`.
    public func probabilities(_ x: [Double]) -> [Double] {
        let d = weight.count
        return stride(from: 0, to: x.count, by: d).map { start in
            var z = bias
            for j in 0..<d { z += weight[j] * x[start + j] }
            return 1 / (1 + exp(-z))
        }
    }
}

/// The L2 strength of a head chosen by k-fold cross-validation: the `C` of `grid` with the lowest
/// mean held-out log loss (class-weighted), ties to the smaller `C`; folds stratified by class and
/// shuffled with `seed`, so a run is repeatable.
public struct CrossValidatedC: Sendable {
    public var c: Double
    /// Mean held-out log loss per grid value.
    public var losses: [Double]

    public static let defaultGrid: [Double] = [1e-3, 1e-2, 1e-1, 1, 10, 100, 1000]

    public init(x: [Double], dimension: Int, labels: [Bool], grid: [Double] = defaultGrid, folds: Int = 5, seed: UInt64)
    {
        let fold = Self.folds(labels: labels, count: folds, seed: seed)
        let used = Set(fold).sorted()
        var losses: [Double] = []
        for c in grid {
            var total = 0.0
            var counted = 0
            for k in used {
                let train = labels.indices.filter { fold[$0] != k }
                let held = labels.indices.filter { fold[$0] == k }
                let trainLabels = train.map { labels[$0] }
                guard trainLabels.contains(true), trainLabels.contains(false), !held.isEmpty else { continue }
                let model = LogisticRegression(
                    x: train.flatMap { x[($0 * dimension)..<(($0 + 1) * dimension)] }, dimension: dimension,
                    labels: trainLabels, c: c)
                let probabilities = model.probabilities(held.flatMap { x[($0 * dimension)..<(($0 + 1) * dimension)] })
                let heldLabels = held.map { labels[$0] }
                let positives = Double(heldLabels.filter { $0 }.count)
                let negatives = Double(heldLabels.count) - positives
                for (p, label) in zip(probabilities, heldLabels) {
                    // The held-out fold weighted as training weights it: each class counts half.
                    let w = label ? 0.5 / max(positives, 1) : 0.5 / max(negatives, 1)
                    total += -w * log(max(label ? p : 1 - p, 1e-15))
                }
                counted += 1
            }
            losses.append(counted == 0 ? .infinity : total / Double(counted))
        }
        self.losses = losses
        let best = losses.indices.min { losses[$0] < losses[$1] || (losses[$0] == losses[$1] && grid[$0] < grid[$1]) }
        c = best.map { grid[$0] } ?? 1
    }

    /// Fold of each item: each class's items shuffled (SplitMix64 from `seed`) and dealt round-robin.
    static func folds(labels: [Bool], count: Int, seed: UInt64) -> [Int] {
        var random = SplitMix64(seed: seed)
        var fold = [Int](repeating: 0, count: labels.count)
        for cls in [true, false] {
            var members = labels.indices.filter { labels[$0] == cls }
            for i in stride(from: members.count - 1, to: 0, by: -1) {
                members.swapAt(i, Int(random.next() % UInt64(i + 1)))
            }
            for (position, item) in members.enumerated() { fold[item] = position % count }
        }
        return fold
    }
}
