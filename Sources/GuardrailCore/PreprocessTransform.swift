/// Where a preprocessed pixel came from, so a patch maps back to the source image:
/// `source = (crop + offset) / scale` on each axis.
public struct PreprocessTransform: Sendable, Hashable, Codable {
    /// Resized size over source size, per axis.
    public var scaleX: Double
    public var scaleY: Double
    /// Top-left corner of the crop in the resized image (negative when the crop was padded).
    public var offsetX: Int
    public var offsetY: Int
    /// The source image size.
    public var sourceWidth: Int
    public var sourceHeight: Int

    public init(scaleX: Double, scaleY: Double, offsetX: Int, offsetY: Int, sourceWidth: Int, sourceHeight: Int) {
        self.scaleX = scaleX
        self.scaleY = scaleY
        self.offsetX = offsetX
        self.offsetY = offsetY
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
    }

    /// The source-image rectangle `(x0, y0, x1, y1)` of a rectangle in the crop, clipped to the image.
    public func sourceBox(cropX0: Double, cropY0: Double, cropX1: Double, cropY1: Double) -> (
        Double, Double, Double, Double
    ) {
        func clamp(_ v: Double, _ limit: Int) -> Double { min(max(v, 0), Double(limit)) }
        return (
            clamp((cropX0 + Double(offsetX)) / scaleX, sourceWidth),
            clamp((cropY0 + Double(offsetY)) / scaleY, sourceHeight),
            clamp((cropX1 + Double(offsetX)) / scaleX, sourceWidth),
            clamp((cropY1 + Double(offsetY)) / scaleY, sourceHeight)
        )
    }

    /// The same mapping for a source that was itself scaled from a `width × height` original (a
    /// video frame scaled while decoding): boxes then land in the original's pixels.
    public func mapped(toSourceWidth width: Int, height: Int) -> PreprocessTransform {
        PreprocessTransform(
            scaleX: scaleX * Double(sourceWidth) / Double(width),
            scaleY: scaleY * Double(sourceHeight) / Double(height),
            offsetX: offsetX, offsetY: offsetY, sourceWidth: width, sourceHeight: height)
    }
}
