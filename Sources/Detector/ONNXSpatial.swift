import Compute

/// Pooling and nearest resampling, the graph's spatial operators besides convolution.
extension ONNXGraph {
    /// MaxPool, NCHW, 2-D, without dilation.
    func maxPool(_ call: OperatorCall, _ x: Value) throws(ONNXError) -> Value {
        let (node, fail) = (call.node, call.fail)
        guard case .float(let input) = x.data, x.shape.count == 4,
            let kernel = node.ints("kernel_shape")?.map(Int.init),
            kernel.count == 2
        else { throw fail("MaxPool needs a 4-D float input and a 2-D kernel") }
        let strides = node.ints("strides")?.map(Int.init) ?? [1, 1]
        let pads = node.ints("pads")?.map(Int.init) ?? [0, 0, 0, 0]
        let dilations = node.ints("dilations")?.map(Int.init) ?? [1, 1]
        guard strides.count == 2, pads.count == 4, dilations == [1, 1], strides.allSatisfy({ $0 > 0 }),
            kernel.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 && $0 < 1 << 16 })
        else {
            throw fail("MaxPool strides, pads or dilations unsupported")
        }
        let ceil = node.int("ceil_mode") == 1
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func size(_ length: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = length + p0 + p1 - k
            return (ceil ? (span + s - 1) / s : span / s) + 1
        }
        let oh = size(h, kernel[0], strides[0], pads[0], pads[2])
        let ow = size(w, kernel[1], strides[1], pads[1], pads[3])
        guard oh > 0, ow > 0, n * c * oh * ow <= ONNXModel.maxElements else {
            throw fail("MaxPool output would be empty or too large")
        }
        // The kernel writes every output, so no zero pass first.
        var out = [Float](unsafeUninitializedCapacity: n * c * oh * ow) { $1 = n * c * oh * ow }
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                MaxPool.apply(
                    src.baseAddress!, planes: n * c, height: h, width: w, kernel: (kernel[0], kernel[1]),
                    strides: (strides[0], strides[1]), pads: (pads[0], pads[1]), into: dst.baseAddress!,
                    outputHeight: oh, outputWidth: ow, compute: compute)
            }
        }
        return Value(shape: [n, c, oh, ow], floats: out)
    }

    /// Resize, nearest neighbour (YOLO's upsampling): from `scales` or `sizes`, with the node's
    /// coordinate transformation and rounding.
    func resize(_ node: Node, _ args: [Value?], fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        let (x, outShape, rows, columns) = try nearestMaps(node, args, fail: fail)
        guard case .float(let input) = x.data else { throw fail("Resize needs a 4-D float input") }
        let count = outShape.reduce(1, *)
        let out = [Float](unsafeUninitializedCapacity: count) { dst, initialized in
            input.withUnsafeBufferPointer { src in
                replicate(
                    src.baseAddress!, planes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3],
                    rows: rows, columns: columns, into: dst.baseAddress!)
            }
            initialized = count
        }
        return Value(shape: outShape, floats: out)
    }

    /// A nearest Resize's input and output shape, and the input row and column each output row
    /// and column takes.
    func nearestMaps(_ node: Node, _ args: [Value?], fail: (String) -> ONNXError) throws(ONNXError) -> (
        x: Value, shape: [Int], rows: [Int], columns: [Int]
    ) {
        guard let x = args.first ?? nil, case .float = x.data, x.shape.count == 4 else {
            throw fail("Resize needs a 4-D float input")
        }
        var outShape: [Int]
        if args.count > 3, let sizes = args[3], sizes.count == 4 {
            guard case .int(let s) = sizes.data else { throw fail("Resize sizes must be int64") }
            outShape = s.map(Int.init)
        } else if args.count > 2, let scales = args[2], scales.count == 4, case .float(let s) = scales.data {
            outShape = zip(x.shape, s).map { Int((Float($0) * $1).rounded(.down)) }
        } else {
            throw fail("Resize needs scales or sizes for 4 dimensions")
        }
        guard outShape[0] == x.shape[0], outShape[1] == x.shape[1], outShape.allSatisfy({ $0 > 0 }),
            outShape.reduce(1, *) <= ONNXModel.maxElements
        else { throw fail("Resize to \(outShape) is not a spatial resize") }
        var transform = "half_pixel"
        if case .string(let t) = node.attributes["coordinate_transformation_mode"] { transform = t }
        var rounding = "round_prefer_floor"
        if case .string(let r) = node.attributes["nearest_mode"] { rounding = r }
        func source(_ o: Int, _ inLength: Int, _ outLength: Int) throws(ONNXError) -> Int {
            let scale = Double(outLength) / Double(inLength)
            let position: Double
            switch transform {
            case "asymmetric": position = Double(o) / scale
            case "half_pixel": position = (Double(o) + 0.5) / scale - 0.5
            case "align_corners":
                position = outLength == 1 ? 0 : Double(o) * Double(inLength - 1) / Double(outLength - 1)
            default: throw fail("coordinate_transformation_mode \(transform)")
            }
            let index: Int
            switch rounding {
            case "floor": index = Int(position.rounded(.down))
            case "ceil": index = Int(position.rounded(.up))
            case "round_prefer_ceil": index = Int((position + 0.5).rounded(.down))
            default: index = Int((position - 0.5).rounded(.up))
            }
            return min(max(index, 0), inLength - 1)
        }
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], outShape[2], outShape[3])
        let rows = try (0..<oh).map { (o) throws(ONNXError) in try source(o, h, oh) }
        let columns = try (0..<ow).map { (o) throws(ONNXError) in try source(o, w, ow) }
        return (x, outShape, rows, columns)
    }

    /// `planes` planes of `height × width` resampled by `rows` and `columns` (the input row and
    /// column of each output row and column) into `dst`; the workers take disjoint planes.
    func replicate(
        _ src: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, rows: [Int], columns: [Int],
        into dst: UnsafeMutablePointer<Float>
    ) {
        let (oh, ow) = (rows.count, columns.count)
        compute.parallel(planes) { planes in
            for plane in planes {
                for (oy, iy) in rows.enumerated() {
                    let outputRow = dst + (plane * oh + oy) * ow
                    // An input row upsampled again (every other one at 2×) is the last one copied.
                    if oy > 0, rows[oy - 1] == iy {
                        outputRow.update(from: outputRow - ow, count: ow)
                        continue
                    }
                    let inputRow = src + (plane * h + iy) * w
                    for (ox, ix) in columns.enumerated() { outputRow[ox] = inputRow[ix] }
                }
            }
        }
    }
}
