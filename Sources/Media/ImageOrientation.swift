import GuardrailCore

/// How stored pixels map to the displayed picture: the eight EXIF orientations
/// (TIFF tag 0x0112), which also express video display rotations.
public enum ImageOrientation: Int, Sendable, Codable, CaseIterable {
    case up = 1
    case upMirrored = 2
    case down = 3
    case downMirrored = 4
    case leftMirrored = 5
    case right = 6
    case rightMirrored = 7
    case left = 8

    /// The orientation that turns a picture by `degrees` clockwise (0, 90, 180 or 270).
    public init(clockwiseRotation degrees: Int) {
        switch ((degrees % 360) + 360) % 360 {
        case 90: self = .right
        case 180: self = .down
        case 270: self = .left
        default: self = .up
        }
    }

    /// True when displaying swaps width and height.
    public var swapsDimensions: Bool { rawValue >= 5 }

    /// The displayed picture, as Pillow's `ImageOps.exif_transpose` produces it.
    public func apply(to image: RGBImage) -> RGBImage {
        if self == .up { return image }
        let w = image.width
        let h = image.height
        let outW = swapsDimensions ? h : w
        let outH = swapsDimensions ? w : h
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        let orientation = self
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        // The stored pixel shown at (x, y).
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case .up: (sx, sy) = (x, y)
                        case .upMirrored: (sx, sy) = (w - 1 - x, y)
                        case .down: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case .downMirrored: (sx, sy) = (x, h - 1 - y)
                        case .leftMirrored: (sx, sy) = (y, x)
                        case .right: (sx, sy) = (y, h - 1 - x)
                        case .rightMirrored: (sx, sy) = (w - 1 - y, h - 1 - x)
                        case .left: (sx, sy) = (w - 1 - y, x)
                        }
                        let s = (sy * w + sx) * 3
                        let d = (y * outW + x) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}
