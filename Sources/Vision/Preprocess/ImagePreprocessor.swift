import Compute
import Foundation
import GuardrailCore

/// `CLIPImageProcessor` (its Pillow backend): shortest side to `size` with Pillow's bicubic, centre
/// crop, rescale by 1/255, normalise with the checkpoint's mean and std, channels first.
public struct ImagePreprocessor: Sendable, Hashable {
    public var shortestEdge: Int
    public var cropWidth: Int
    public var cropHeight: Int
    public var mean: [Float]
    public var std: [Float]
    public var rescaleFactor: Double
    public var resample: PillowResample
    public var doResize = true
    public var doCenterCrop = true
    public var doRescale = true
    public var doNormalize = true

    /// OpenAI CLIP's settings for an `imageSize` model.
    public init(imageSize: Int) {
        shortestEdge = imageSize
        cropWidth = imageSize
        cropHeight = imageSize
        mean = [0.481_454_66, 0.457_827_5, 0.408_210_73]
        std = [0.268_629_54, 0.261_302_58, 0.275_777_11]
        rescaleFactor = 1.0 / 255
        resample = .bicubic
    }

    /// Reads `preprocessor_config.json`; keys it lacks keep CLIP's defaults for `imageSize`.
    public init(contentsOf path: String, imageSize: Int) throws(VisionError) {
        self.init(imageSize: imageSize)
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw VisionError.invalidConfiguration(path: path, message: "not a JSON object")
        }
        func fail(_ key: String) -> VisionError {
            .invalidConfiguration(path: path, message: "\(key) has an unexpected value")
        }
        if let size = json["size"] {
            if let value = size as? Int {
                shortestEdge = value
            } else if let value = (size as? [String: Any])?["shortest_edge"] as? Int {
                shortestEdge = value
            } else {
                throw fail("size")
            }
        }
        if let crop = json["crop_size"] {
            if let value = crop as? Int {
                (cropWidth, cropHeight) = (value, value)
            } else if let dict = crop as? [String: Any], let h = dict["height"] as? Int, let w = dict["width"] as? Int {
                (cropWidth, cropHeight) = (w, h)
            } else {
                throw fail("crop_size")
            }
        }
        if let m = json["image_mean"] {
            guard let values = m as? [Double], values.count == 3 else { throw fail("image_mean") }
            mean = values.map(Float.init)
        }
        if let s = json["image_std"] {
            guard let values = s as? [Double], values.count == 3, values.allSatisfy({ $0 > 0 }) else {
                throw fail("image_std")
            }
            std = values.map(Float.init)
        }
        if let r = json["rescale_factor"] as? Double { rescaleFactor = r }
        if let r = json["resample"] {
            guard let code = r as? Int, let filter = PillowResample(rawValue: code) else {
                throw fail("resample (2 or 3)")
            }
            resample = filter
        }
        doResize = json["do_resize"] as? Bool ?? true
        doCenterCrop = json["do_center_crop"] as? Bool ?? true
        doRescale = json["do_rescale"] as? Bool ?? true
        doNormalize = json["do_normalize"] as? Bool ?? true
        guard shortestEdge > 0, cropWidth > 0, cropHeight > 0 else { throw fail("size or crop_size") }
        // The vision tower takes exactly imageSize × imageSize pixels: a configuration that makes
        // anything else is refused here, at load, not on the first image.
        guard doCenterCrop else {
            throw VisionError.invalidConfiguration(
                path: path,
                message: "do_center_crop is false: images would keep their own size, but the vision tower takes "
                    + "\(imageSize)×\(imageSize)")
        }
        guard cropWidth == imageSize, cropHeight == imageSize else {
            throw VisionError.invalidConfiguration(
                path: path,
                message: "crop_size \(cropWidth)×\(cropHeight) does not fit the vision tower, which takes "
                    + "\(imageSize)×\(imageSize) (config.json image_size)")
        }
    }

    /// The resized size for a `width × height` source (`transformers`' `get_resize_output_image_size`).
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        guard doResize else { return (width, height) }
        let short = min(width, height)
        let long = max(width, height)
        let newLong = Int(Double(shortestEdge * long) / Double(short))
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
    }

    /// Resized and centre-cropped 8-bit RGB, before rescaling (zero padding where the crop is larger).
    /// Only the cropped window of the resize is computed, so no buffer grows with the resized size
    /// (a 100000×1 image resizes to 22 400 000×224 but costs a 224×224 window).
    public func resizeAndCrop(_ image: RGBImage) -> (image: RGBImage, transform: PreprocessTransform) {
        let (w, h) = resizedSize(width: image.width, height: image.height)
        // numpy's floor division for the offsets, as transformers' center_crop computes them.
        let top = doCenterCrop ? Int((Double(h - cropHeight) / 2).rounded(.down)) : 0
        let left = doCenterCrop ? Int((Double(w - cropWidth) / 2).rounded(.down)) : 0
        let transform = PreprocessTransform(
            scaleX: Double(w) / Double(image.width), scaleY: Double(h) / Double(image.height), offsetX: left,
            offsetY: top, sourceWidth: image.width, sourceHeight: image.height)
        let columns = max(left, 0)..<min(left + cropWidth, w)
        let rows = max(top, 0)..<min(top + cropHeight, h)
        let window = resample.resize(image, width: w, height: h, columns: columns, rows: rows)
        if columns == left..<left + cropWidth && rows == top..<top + cropHeight { return (window, transform) }
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        for y in 0..<rows.count {
            let d = ((rows.lowerBound - top + y) * cropWidth + columns.lowerBound - left) * 3
            let s = y * columns.count * 3
            for x in 0..<columns.count * 3 { out[d + x] = window.pixels[s + x] }
        }
        return (RGBImage(width: cropWidth, height: cropHeight, pixels: out), transform)
    }

    /// The model input for a batch of images: `[batch, 3, crop height, crop width]`, plus each
    /// image's transform.
    public func callAsFunction(_ images: [RGBImage]) -> (pixels: Tensor, transforms: [PreprocessTransform]) {
        let plane = cropWidth * cropHeight
        let pixels = Tensor(zeros: [images.count, 3, cropHeight, cropWidth])
        var transforms: [PreprocessTransform] = []
        let out = pixels.storage.pointer
        for (b, image) in images.enumerated() {
            let (cropped, transform) = resizeAndCrop(image)
            transforms.append(transform)
            cropped.pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 {
                    let dst = out + (b * 3 + c) * plane
                    let m = mean[c]
                    let s = std[c]
                    for i in 0..<plane {
                        // float64 rescale then float32 normalise, in transformers' order.
                        var v = doRescale ? Float(Double(src[3 * i + c]) * rescaleFactor) : Float(src[3 * i + c])
                        if doNormalize { v = (v - m) / s }
                        dst[i] = v
                    }
                }
            }
        }
        return (pixels, transforms)
    }
}
