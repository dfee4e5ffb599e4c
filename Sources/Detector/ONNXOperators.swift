import Compute
import Foundation

/// For every element of `shape` in row-major order, `Σ position[d] · steps[d]`: the source offset
/// of a broadcast (steps 0 on broadcast axes) or a transposition (permuted strides).
func offsets(shape: [Int], steps: [Int]) -> [Int] {
    let count = shape.reduce(1, *)
    var out = [Int](repeating: 0, count: count)
    var position = [Int](repeating: 0, count: shape.count)
    var offset = 0
    for i in 0..<count {
        out[i] = offset
        var d = shape.count - 1
        while d >= 0 {
            position[d] += 1
            offset += steps[d]
            if position[d] < shape[d] { break }
            offset -= steps[d] * position[d]
            position[d] = 0
            d -= 1
        }
    }
    return out
}

/// Row-major strides of `shape`.
func strides(_ shape: [Int]) -> [Int] {
    var out = [Int](repeating: 1, count: shape.count)
    for i in stride(from: shape.count - 2, through: 0, by: -1) { out[i] = out[i + 1] * shape[i + 1] }
    return out
}

/// Element-wise operators with numpy broadcasting, softmax and expand.
enum Elementwise {
    /// The broadcast shape of `a` and `b` (numpy rules), or nil when they do not broadcast.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            guard x == y || x == 1 || y == 1 else { return nil }
            out.append(x == 1 ? y : x)
        }
        return out
    }

    /// For each element of `shape`, the index into a tensor of `source` broadcast to it.
    static func sourceIndices(_ source: [Int], to shape: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: shape.count - source.count) + source
        let sourceStrides = strides(padded)
        let count = shape.reduce(1, *)
        if padded == shape { return Array(0..<count) }
        return offsets(shape: shape, steps: shape.indices.map { padded[$0] == 1 ? 0 : sourceStrides[$0] })
    }

    static func binary(_ op: String, _ a: Value, _ b: Value, fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        guard let shape = broadcast(a.shape, b.shape) else {
            throw fail("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        guard shape.reduce(1, *) <= ONNXModel.maxElements else { throw fail("result of \(shape) is too large") }
        switch (a.data, b.data) {
        case (.int(let x), .int(let y)):
            let (ia, ib) = (sourceIndices(a.shape, to: shape), sourceIndices(b.shape, to: shape))
            let f: (Int64, Int64) -> Int64
            switch op {
            case "Add": f = { $0 &+ $1 }
            case "Sub": f = { $0 &- $1 }
            case "Mul": f = { $0 &* $1 }
            default: f = { $1 == 0 ? 0 : $0 / $1 }
            }
            return Value(shape: shape, ints: zip(ia, ib).map { f(x[$0], y[$1]) })
        default:
            let x = floatValues(a)
            let y = floatValues(b)
            if a.shape == b.shape || b.count == 1 {
                // The common cases (a residual sum, a scalar factor) as plain vector loops.
                let scalar = b.count == 1 && a.shape != b.shape
                let out = [Float](unsafeUninitializedCapacity: x.count) { out, initialized in
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeBufferPointer { y in
                            switch op {
                            case "Add": combine(x, y, scalar, into: out, +)
                            case "Sub": combine(x, y, scalar, into: out, -)
                            case "Mul": combine(x, y, scalar, into: out, *)
                            default: combine(x, y, scalar, into: out, /)
                            }
                        }
                    }
                    initialized = x.count
                }
                return Value(shape: shape, floats: out)
            }
            let (ia, ib) = (sourceIndices(a.shape, to: shape), sourceIndices(b.shape, to: shape))
            var out = [Float](repeating: 0, count: ia.count)
            switch op {
            case "Add": for i in out.indices { out[i] = x[ia[i]] + y[ib[i]] }
            case "Sub": for i in out.indices { out[i] = x[ia[i]] - y[ib[i]] }
            case "Mul": for i in out.indices { out[i] = x[ia[i]] * y[ib[i]] }
            default: for i in out.indices { out[i] = x[ia[i]] / y[ib[i]] }
            }
            return Value(shape: shape, floats: out)
        }
    }

    /// `out[i] = f(x[i], y[i])`, or `f(x[i], y[0])` when `scalar`; inlined with `f`, so each
    /// operator is its own vector loop.
    @inline(__always)
    private static func combine(
        _ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>, _ scalar: Bool,
        into out: UnsafeMutableBufferPointer<Float>, _ f: (Float, Float) -> Float
    ) {
        if scalar {
            let value = y[0]
            for i in 0..<x.count { out[i] = f(x[i], value) }
        } else {
            for i in 0..<x.count { out[i] = f(x[i], y[i]) }
        }
    }

    static func floatValues(_ v: Value) -> [Float] {
        switch v.data {
        case .float(let f): return f
        case .int(let i): return i.map(Float.init)
        }
    }

    static func softmax(_ x: Value, axis: Int, compute: ComputeConfiguration, fail: (String) -> ONNXError)
        throws(ONNXError) -> Value
    {
        let a = try Layout.axis(axis, rank: x.shape.count, fail: fail)
        var values = floatValues(x)
        let length = x.shape[a]
        let inner = x.shape[(a + 1)...].reduce(1, *)
        let outer = x.shape[..<a].reduce(1, *)
        // The `inner` positions of one axis step are contiguous (YOLO's DFL softmax runs over axis
        // 1 of [1, 16, 4, anchors]), so the kernel takes a vector of positions at a time. The
        // workers take disjoint runs of inner positions (or of outer blocks when the axis is last).
        let byInner = inner >= compute.threads
        values.withUnsafeMutableBufferPointer { v in
            compute.parallel(byInner ? inner : outer) { part in
                let (blocks, positions) = byInner ? (0..<outer, part) : (part, 0..<inner)
                for o in blocks {
                    softmaxColumns(
                        v.baseAddress! + o * length * inner + positions.lowerBound, length: length, stride: inner,
                        count: positions.count, compute: compute)
                }
            }
        }
        return Value(shape: x.shape, floats: values)
    }

    static func expand(_ x: Value, to target: [Int], fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        guard let shape = broadcast(x.shape, target), shape.reduce(1, *) <= ONNXModel.maxElements else {
            throw fail("cannot expand \(x.shape) to \(target)")
        }
        let indices = sourceIndices(x.shape, to: shape)
        switch x.data {
        case .float(let f): return Value(shape: shape, floats: indices.map { f[$0] })
        case .int(let i): return Value(shape: shape, ints: indices.map { i[$0] })
        }
    }
}

/// Operators that move values without arithmetic.
enum Layout {
    static func axis(_ axis: Int, rank: Int, fail: (String) -> ONNXError) throws(ONNXError) -> Int {
        let a = axis < 0 ? axis + rank : axis
        // A scalar has no axis to gather, split or slice along.
        guard a >= 0, a < rank else { throw fail("axis \(axis) out of range for rank \(rank)") }
        return a
    }

    /// Values gathered at `positions` (flat indices into `x`).
    private static func take(_ x: Value, _ positions: [Int], shape: [Int]) -> Value {
        switch x.data {
        case .float(let f): return Value(shape: shape, floats: positions.map { f[$0] })
        case .int(let i): return Value(shape: shape, ints: positions.map { i[$0] })
        }
    }

    static func concat(_ parts: [Value], axis: Int, fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        guard let first = parts.first else { throw fail("Concat of nothing") }
        let a = try Layout.axis(axis, rank: first.shape.count, fail: fail)
        for p in parts {
            guard p.shape.count == first.shape.count,
                p.shape.indices.allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] })
            else { throw fail("Concat shapes \(parts.map(\.shape)) differ off axis \(a)") }
        }
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        var shape = first.shape
        shape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        func joined<T>(_ values: [[T]]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(shape.reduce(1, *))
            for o in 0..<outer {
                for (p, v) in zip(parts, values) {
                    let span = p.shape[a] * inner
                    out += v[(o * span)..<((o + 1) * span)]
                }
            }
            return out
        }
        switch first.data {
        case .int:
            let values = try parts.map { (p) throws(ONNXError) -> [Int64] in
                guard case .int(let v) = p.data else { throw fail("Concat mixes types") }
                return v
            }
            return Value(shape: shape, ints: joined(values))
        case .float:
            let values = try parts.map { (p) throws(ONNXError) -> [Float] in
                guard case .float(let v) = p.data else { throw fail("Concat mixes types") }
                return v
            }
            return Value(shape: shape, floats: joined(values))
        }
    }

    static func split(_ x: Value, axis a: Int, sizes: [Int], fail: (String) -> ONNXError) throws(ONNXError) -> [Value] {
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[a] else {
            throw fail("split sizes \(sizes) do not add up to \(x.shape[a])")
        }
        var start = 0
        return sizes.map { size in
            var starts = x.shape.map { _ in 0 }
            var ends = x.shape
            starts[a] = start
            ends[a] = start + size
            start += size
            return box(x, starts: starts, ends: ends)
        }
    }

    /// The sub-tensor `starts..<ends` on every axis (step 1), copied in contiguous runs: the axes
    /// after the last one that is cut are whole, so each run is that axis's span times their size.
    private static func box(_ x: Value, starts: [Int], ends: [Int]) -> Value {
        let shape = zip(starts, ends).map { $1 - $0 }
        guard shape.allSatisfy({ $0 > 0 }) else { return take(x, [], shape: shape) }
        let s = strides(x.shape)
        let cut = (0..<shape.count).last { shape[$0] != x.shape[$0] } ?? 0
        let run = shape[cut] * s[cut]
        var offsets: [Int] = []
        func walk(_ d: Int, _ offset: Int) {
            if d == cut {
                offsets.append(offset + starts[d] * s[d])
                return
            }
            for i in starts[d]..<ends[d] { walk(d + 1, offset + i * s[d]) }
        }
        walk(0, 0)
        switch x.data {
        case .float(let f):
            var out: [Float] = []
            out.reserveCapacity(offsets.count * run)
            for o in offsets { out += f[o..<(o + run)] }
            return Value(shape: shape, floats: out)
        case .int(let v):
            var out: [Int64] = []
            for o in offsets { out += v[o..<(o + run)] }
            return Value(shape: shape, ints: out)
        }
    }

    static func reshape(_ x: Value, to target: [Int64], allowZero: Bool, fail: (String) -> ONNXError) throws(ONNXError)
        -> Value
    {
        var shape = target.enumerated().map { i, d in d == 0 && !allowZero && i < x.shape.count ? x.shape[i] : Int(d) }
        let unknown = shape.indices.filter { shape[$0] == -1 }
        guard unknown.count <= 1, shape.allSatisfy({ $0 >= -1 }) else { throw fail("Reshape to \(target)") }
        if let u = unknown.first {
            let known = shape.enumerated().filter { $0.offset != u }.reduce(1) { $0 * $1.element }
            guard known > 0, x.count % known == 0 else { throw fail("cannot reshape \(x.shape) to \(target)") }
            shape[u] = x.count / known
        }
        guard shape.reduce(1, *) == x.count else { throw fail("cannot reshape \(x.shape) to \(target)") }
        return Value(shape: shape, data: x.data)
    }

    static func transpose(_ x: Value, perm: [Int], fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        guard perm.sorted() == Array(0..<x.shape.count) else { throw fail("perm \(perm) for rank \(x.shape.count)") }
        let shape = perm.map { x.shape[$0] }
        let s = strides(x.shape)
        // Trailing axes the permutation keeps in place move together: copy them as runs.
        var kept = perm.count
        while kept > 0, perm[kept - 1] == kept - 1 { kept -= 1 }
        let run = shape[kept...].reduce(1, *)
        let starts = offsets(shape: Array(shape[..<kept]), steps: perm[..<kept].map { s[$0] })
        switch x.data {
        case .float(let f): return Value(shape: shape, floats: gathered(f, starts, run: run))
        case .int(let i): return Value(shape: shape, ints: gathered(i, starts, run: run))
        }
    }

    /// The runs of `run` elements of `values` starting at `starts`, one after another.
    private static func gathered<T>(_ values: [T], _ starts: [Int], run: Int) -> [T] {
        [T](unsafeUninitializedCapacity: starts.count * run) { out, initialized in
            values.withUnsafeBufferPointer { source in
                guard run > 0 else { return }
                for (index, start) in starts.enumerated() {
                    (out.baseAddress! + index * run).initialize(from: source.baseAddress! + start, count: run)
                }
            }
            initialized = starts.count * run
        }
    }

    static func slice(
        _ x: Value, starts: [Int64], ends: [Int64], axes: [Int64], steps: [Int64], fail: (String) -> ONNXError
    ) throws(ONNXError) -> Value {
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count,
            steps.allSatisfy({ $0 == 1 })
        else { throw fail("Slice with steps other than 1 or mismatched lists") }
        var lower = x.shape.map { _ in 0 }
        var upper = x.shape
        for (i, rawAxis) in axes.enumerated() {
            let a = try axis(Int(rawAxis), rank: x.shape.count, fail: fail)
            let length = Int64(x.shape[a])
            func clamp(_ v: Int64) -> Int {
                let w = v < 0 ? v + length : v
                return Int(min(max(w, 0), length))
            }
            lower[a] = clamp(starts[i])
            upper[a] = max(lower[a], clamp(ends[i]))
        }
        return box(x, starts: lower, ends: upper)
    }

    static func gather(_ x: Value, indices: Value, axis: Int, fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        let a = try Layout.axis(axis, rank: x.shape.count, fail: fail)
        guard case .int(let raw) = indices.data else { throw fail("Gather indices must be integers") }
        let length = x.shape[a]
        let picks = try raw.map { (i) throws(ONNXError) -> Int in
            let v = i < 0 ? Int(i) + length : Int(i)
            guard v >= 0, v < length else { throw fail("Gather index \(i) out of range \(length)") }
            return v
        }
        let outer = x.shape[..<a].reduce(1, *)
        let inner = x.shape[(a + 1)...].reduce(1, *)
        var positions: [Int] = []
        for o in 0..<outer {
            for p in picks {
                for i in 0..<inner { positions.append((o * length + p) * inner + i) }
            }
        }
        let shape = Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...])
        return take(x, positions, shape: shape)
    }
}
