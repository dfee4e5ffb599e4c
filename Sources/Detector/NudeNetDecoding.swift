import Foundation

/// One detected object: its label, score and box in the picture's pixels.
public struct Detection: Sendable, Hashable, Encodable {
    public var label: String
    public var score: Float
    /// `[x, y, width, height]`, truncated to whole pixels as the `nudenet` package reports them.
    public var box: [Int]
}

/// `cv2.dnn.NMSBoxes` for float boxes: candidates scoring above `scoreThreshold`, by descending
/// score (stable: the earlier of equal scores first), each kept unless its overlap (intersection
/// over union, in double, turned into OpenCV's float `1 − Jaccard distance`; 1 for two empty
/// boxes) with a box already kept exceeds `nmsThreshold`.
public enum NonMaximumSuppression {
    public static func indices(
        boxes: [(x: Float, y: Float, width: Float, height: Float)], scores: [Float], scoreThreshold: Float,
        nmsThreshold: Float
    ) -> [Int] {
        let order = scores.indices.filter { scores[$0] > scoreThreshold }.enumerated()
            .sorted { a, b in
                scores[a.element] > scores[b.element] || (scores[a.element] == scores[b.element] && a.offset < b.offset)
            }
            .map(\.element)
        var kept: [Int] = []
        for candidate in order {
            let keep = kept.allSatisfy { overlap(boxes[candidate], boxes[$0]) <= nmsThreshold }
            if keep { kept.append(candidate) }
        }
        return kept
    }

    static func overlap(
        _ a: (x: Float, y: Float, width: Float, height: Float), _ b: (x: Float, y: Float, width: Float, height: Float)
    ) -> Float {
        let (ax, ay, aw, ah) = (Double(a.x), Double(a.y), Double(a.width), Double(a.height))
        let (bx, by, bw, bh) = (Double(b.x), Double(b.y), Double(b.width), Double(b.height))
        // Two empty boxes (clipped to zero width at the picture's edge) count as the same box.
        guard aw * ah + bw * bh > Double.ulpOfOne else { return 1 }
        let w = min(ax + aw, bx + bw) - max(ax, bx)
        let h = min(ay + ah, by + bh) - max(ay, by)
        let intersection = w > 0 && h > 0 ? w * h : 0
        let jaccardDistance = 1 - intersection / (aw * ah + bw * bh - intersection)
        return 1 - Float(jaccardDistance)
    }
}

/// NudeNet's detector (YOLOv8, 18 body-part classes) as the `nudenet` package reads its output:
/// per candidate the box centre and size, then the 18 class scores.
public enum NudeNet {
    /// The classes, in the model's output order.
    public static let labels = [
        "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
        "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED",
        "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
    ]
    /// A candidate needs a class score of at least this.
    public static let candidateThreshold: Float = 0.2
    /// `cv2.dnn.NMSBoxes(boxes, scores, 0.25, 0.45)`.
    public static let scoreThreshold: Float = 0.25
    public static let nmsThreshold: Float = 0.45

    /// The detections in a `[1, 4 + 18, N]` output for a `width × height` picture padded at the
    /// right and bottom by `xPad`, `yPad` to a square and resized to `modelSize`: candidates at
    /// 0.2, boxes from the centre to the corner, scaled (in float32, in the package's order),
    /// clipped to the picture, suppressed as `cv2.dnn.NMSBoxes`; also how many candidates there were.
    public static func decode(
        _ output: Value, width: Int, height: Int, xPad: Int, yPad: Int, modelSize: Int
    ) throws(ONNXError) -> (candidates: Int, detections: [Detection]) {
        guard output.shape.count == 3, output.shape[0] == 1, output.shape[1] == 4 + labels.count,
            case .float(let values) = output.data
        else {
            throw ONNXError(file: "output", reason: "expected [1, \(4 + labels.count), N], not \(output.shape)")
        }
        let n = output.shape[2]
        var boxes: [(x: Float, y: Float, width: Float, height: Float)] = []
        var scores: [Float] = []
        var classes: [Int] = []
        let (fw, fh) = (Float(width), Float(height))
        for i in 0..<n {
            var best = -Float.infinity
            var classIndex = 0
            for c in 0..<labels.count where values[(4 + c) * n + i] > best {
                best = values[(4 + c) * n + i]
                classIndex = c
            }
            guard best >= candidateThreshold else { continue }
            var (x, y, w, h) = (values[i], values[n + i], values[2 * n + i], values[3 * n + i])
            x -= w / 2
            y -= h / 2
            x = x * Float(width + xPad) / Float(modelSize)
            y = y * Float(height + yPad) / Float(modelSize)
            w = w * Float(width + xPad) / Float(modelSize)
            h = h * Float(height + yPad) / Float(modelSize)
            x = max(0, min(x, fw))
            y = max(0, min(y, fh))
            w = min(w, fw - x)
            h = min(h, fh - y)
            boxes.append((x, y, w, h))
            scores.append(best)
            classes.append(classIndex)
        }
        let kept = NonMaximumSuppression.indices(
            boxes: boxes, scores: scores, scoreThreshold: scoreThreshold, nmsThreshold: nmsThreshold)
        let detections = kept.map { k in
            let b = boxes[k]
            return Detection(
                label: labels[classes[k]], score: scores[k],
                box: [
                    Int(b.x.rounded(.towardZero)), Int(b.y.rounded(.towardZero)), Int(b.width.rounded(.towardZero)),
                    Int(b.height.rounded(.towardZero)),
                ])
        }
        return (boxes.count, detections)
    }
}
