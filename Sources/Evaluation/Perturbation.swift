import Compute
import Foundation
import GuardrailCore
import Media
import Vision

/// A change applied to an item before classification, for robustness runs (UnsafeBench §4). Each
/// is deterministic: noise is drawn from a generator seeded by the run's seed, the item and the
/// perturbation, so a rerun perturbs identically.
public enum Perturbation: Sendable, Hashable {
    /// Gaussian noise scaled to an L2 norm of `l2` over each frame's normalised pixel tensor (the
    /// model's input after CLIP normalisation), then clipped to (−3, 3): foolbox's
    /// `L2AdditiveGaussianNoiseAttack` as UnsafeBench applies it, ε in normalised-tensor units.
    case gaussianNoise(l2: Double)
    /// Re-encoded as a JPEG at `quality` (TurboJPEG, 4:2:0) and decoded again.
    case jpeg(quality: Int)
    /// A separable Gaussian blur of standard deviation `sigma` pixels (kernel ±3σ, edges clamped).
    case blur(sigma: Double)
    /// Resized by `scale` (< 1) and back to the original size, both with Pillow's bicubic filter.
    case resize(scale: Double)
    /// The centre `fraction` of each side kept.
    case crop(fraction: Double)

    /// Where the perturbation acts: on the decoded picture, or on the model's input tensor.
    /// Gradient attacks (FGSM, PGD) would act on the tensor with the model's gradients, a stage
    /// of their own that needs backward passes the engine does not have yet.
    public enum Stage: String, Sendable, Codable {
        case image
        case tensor
    }

    public var stage: Stage {
        if case .gaussianNoise = self { return .tensor }
        return .image
    }

    /// `noise:0.01`, `jpeg:50`, `blur:2`, `resize:0.5`, `crop:0.8`: the name in reports and caches.
    public var id: String {
        switch self {
        case .gaussianNoise(let l2): return "noise:\(Self.format(l2))"
        case .jpeg(let quality): return "jpeg:\(quality)"
        case .blur(let sigma): return "blur:\(Self.format(sigma))"
        case .resize(let scale): return "resize:\(Self.format(scale))"
        case .crop(let fraction): return "crop:\(Self.format(fraction))"
        }
    }

    public var kind: String { String(id.prefix { $0 != ":" }) }

    /// The strength as a number, and its unit, for reports.
    public var strength: (value: Double, unit: String) {
        switch self {
        case .gaussianNoise(let l2): return (l2, "L2 norm, normalised tensor")
        case .jpeg(let quality): return (Double(quality), "JPEG quality")
        case .blur(let sigma): return (sigma, "σ in pixels")
        case .resize(let scale): return (scale, "scale of each side")
        case .crop(let fraction): return (fraction, "fraction of each side kept")
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    /// Parses a `--robustness` value: `KIND:S1,S2,…` (kinds `noise`, `jpeg`, `blur`, `resize`, `crop`).
    public static func parse(_ spec: String) throws(DatasetError) -> [Perturbation] {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        func fail(_ reason: String) -> DatasetError { DatasetError(file: "--robustness", field: spec, reason: reason) }
        guard parts.count == 2 else { throw fail("expected KIND:STRENGTH[,STRENGTH…], e.g. noise:0.01 or jpeg:50,20") }
        var out: [Perturbation] = []
        for item in parts[1].split(separator: ",") {
            guard let value = Double(item.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw fail("\(item) is not a number")
            }
            switch parts[0] {
            case "noise":
                guard value >= 0 else { throw fail("the noise norm must be ≥ 0") }
                out.append(.gaussianNoise(l2: value))
            case "jpeg":
                guard value >= 1, value <= 100, value == value.rounded() else { throw fail("JPEG quality is 1…100") }
                out.append(.jpeg(quality: Int(value)))
            case "blur":
                guard value > 0, value <= 64 else { throw fail("blur σ must be in (0, 64]") }
                out.append(.blur(sigma: value))
            case "resize":
                guard value > 0, value < 1 else { throw fail("the resize scale must be in (0, 1)") }
                out.append(.resize(scale: value))
            case "crop":
                guard value > 0, value <= 1 else { throw fail("the crop fraction must be in (0, 1]") }
                out.append(.crop(fraction: value))
            default: throw fail("unknown kind \(parts[0]) (noise, jpeg, blur, resize, crop)")
            }
        }
        return out
    }

    /// The perturbed picture (image-stage perturbations; the picture itself for tensor-stage ones).
    public func apply(to image: RGBImage) throws(MediaError) -> RGBImage {
        switch self {
        case .gaussianNoise: return image
        case .jpeg(let quality): return try image.jpegRecompressed(quality: quality)
        case .blur(let sigma): return Self.blur(image, sigma: sigma)
        case .resize(let scale):
            let w = max(1, Int((Double(image.width) * scale).rounded()))
            let h = max(1, Int((Double(image.height) * scale).rounded()))
            let small = PillowResample.bicubic.resize(image, width: w, height: h)
            return PillowResample.bicubic.resize(small, width: image.width, height: image.height)
        case .crop(let fraction):
            let w = max(1, Int((Double(image.width) * fraction).rounded()))
            let h = max(1, Int((Double(image.height) * fraction).rounded()))
            let (x0, y0) = ((image.width - w) / 2, (image.height - h) / 2)
            var pixels = [UInt8](repeating: 0, count: w * h * 3)
            image.pixels.withUnsafeBufferPointer { source in
                pixels.withUnsafeMutableBufferPointer { out in
                    for y in 0..<h {
                        let from = ((y0 + y) * image.width + x0) * 3
                        for i in 0..<(w * 3) { out[y * w * 3 + i] = source[from + i] }
                    }
                }
            }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    /// The perturbed model input (tensor-stage perturbations), `[frames, 3, H, W]`, frame `f`'s
    /// draw seeded by `seeds[f]`, so that a frame is perturbed alike in whatever batch it is.
    public func apply(to pixels: Tensor, seeds: [UInt64]) -> Tensor {
        guard case .gaussianNoise(let l2) = self, l2 > 0 else { return pixels }
        var values = pixels.scalars
        let frames = max(pixels.shape.first ?? 1, 1)
        precondition(seeds.count == frames, "one seed per frame")
        let size = values.count / frames
        for f in 0..<frames {
            var random = SplitMix64(seed: seeds[f])
            var noise = (0..<size).map { _ in random.nextGaussian() }
            let norm = noise.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let scale = norm > 0 ? l2 / norm : 0
            for i in 0..<size {
                noise[i] *= scale
                values[f * size + i] = Float(min(3, max(-3, Double(values[f * size + i]) + noise[i])))
            }
        }
        return Tensor(shape: pixels.shape, scalars: values)
    }

    private static func blur(_ image: RGBImage, sigma: Double) -> RGBImage {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let (w, h) = (image.width, image.height)
        let rows = convolve(image.pixels.map(Double.init), width: w, height: h, kernel: kernel, alongRows: true)
        let both = convolve(rows, width: w, height: h, kernel: kernel, alongRows: false)
        return RGBImage(width: w, height: h, pixels: both.map { UInt8(min(255, max(0, $0.rounded()))) })
    }

    /// One pass of a separable filter over RGB values, along rows or columns, edges clamped.
    private static func convolve(_ input: [Double], width w: Int, height h: Int, kernel: [Double], alongRows: Bool)
        -> [Double]
    {
        let radius = kernel.count / 2
        var out = [Double](repeating: 0, count: input.count)
        input.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { result in
                for y in 0..<h {
                    for x in 0..<w {
                        for c in 0..<3 {
                            var sum = 0.0
                            for k in -radius...radius {
                                let (xx, yy) =
                                    alongRows ? (min(w - 1, max(0, x + k)), y) : (x, min(h - 1, max(0, y + k)))
                                sum += kernel[k + radius] * source[(yy * w + xx) * 3 + c]
                            }
                            result[(y * w + x) * 3 + c] = sum
                        }
                    }
                }
            }
        }
        return out
    }
}
