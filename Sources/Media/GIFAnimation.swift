import GuardrailCore

/// GIF frames composited as Pillow composites them (`GifImagePlugin`, RGB after the first frame),
/// which FFmpeg does not: frame 0 is the first image over a canvas of its transparency index; a
/// frame's disposal is applied when the next one is read (2: its extent back to the transparent
/// colour, or the background; 3: back to what was there before it); later frames are pasted with
/// their own transparency as the mask. Timestamps follow FFmpeg's GIF demuxer (a delay under 2 cs
/// counts as 10 cs), so sampling sees the same times as before.
final class GIFAnimation: FrameSource {
    private let bytes: [UInt8]
    private let path: String
    let canvas: FrameSize
    private let globalPalette: [UInt8]?
    private let background: Int
    private var offset: Int
    private(set) var frameIndex = -1
    private var time = 0.0
    /// RGBA canvas after the first frame; nil while frame 0 is shown from `indexed`.
    private var rgba: [UInt8]?
    private var indexed: [UInt8]
    private var firstPalette: [UInt8] = []
    private var firstTransparency: Int?
    private var disposalMethod = 0
    private var pendingDisposal: (extent: Extent, fill: [UInt8]?, restore: [UInt8]?)?
    /// Frames whose image data ended early or broke off at a bad code (shown as far as they go).
    private(set) var corruptPackets = 0
    /// What those frames were: `truncated` (the data ran out) or `damaged` (a bad code).
    private(set) var warnings: [MediaWarning] = []
    var decodedFrames: Int { frameIndex + 1 }
    private(set) var endTime: Double?

    struct Extent {
        var x0: Int
        var y0: Int
        var x1: Int
        var y1: Int
    }

    /// Only the first frame (the only keyframe), for keyframe sampling.
    private let keyframesOnly: Bool

    init(bytes: [UInt8], path: String, limits: MediaLimits, keyframesOnly: Bool = false) throws(MediaError) {
        self.bytes = bytes
        self.path = path
        self.keyframesOnly = keyframesOnly
        guard bytes.count >= 13, bytes.starts(with: Array("GIF8".utf8)) else {
            throw MediaError(.corrupt, path: path, function: "gif", message: "not a GIF header")
        }
        let width = Int(bytes[6]) | Int(bytes[7]) << 8
        let height = Int(bytes[8]) | Int(bytes[9]) << 8
        try limits.checkPixels(width: width, height: height, path: path, function: "gif")
        canvas = FrameSize(width: width, height: height)
        let flags = Int(bytes[10])
        background = Int(bytes[11])
        offset = 13
        if flags & 0x80 != 0 {
            let size = 3 << ((flags & 7) + 1)
            guard offset + size <= bytes.count else {
                throw MediaError(.truncated, path: path, function: "gif", message: "global palette cut short")
            }
            globalPalette = Array(bytes[offset..<(offset + size)])
            offset += size
        } else {
            globalPalette = nil
        }
        indexed = []
    }

    func prepare(forTarget seconds: Double) throws(MediaError) {}

    func advance() throws(MediaError) -> FrameStamp? {
        if keyframesOnly && frameIndex >= 0 { return nil }
        guard let image = nextImage() else {
            endTime = roundedToMilliseconds(time)
            return nil
        }
        return frame(image)
    }

    /// Image descriptors in the file, counted without decoding.
    func countFrames() -> Int {
        var count = 0
        while nextImage(keepingData: false) != nil { count += 1 }
        return count
    }

    /// One image as stored: where it goes, its palette and LZW data, and its control extension.
    private struct StoredImage {
        var extent: Extent
        var interlaced: Bool
        var palette: [UInt8]
        var minimumCodeSize: Int
        var data: [UInt8]
        var transparency: Int?
        var delay: Int
    }

    /// Reads through the next image (the extensions before it, its descriptor and data); nil at the
    /// trailer or the end of the data. An image cut off before its data ends the stream, with a
    /// `truncated` warning: the frames before it are what a viewer shows. Without `keepingData` the
    /// image data is skipped, not copied (for counting).
    private func nextImage(keepingData: Bool = true) -> StoredImage? {
        var transparency: Int?
        var delay = 0
        while offset < bytes.count {
            let introducer = bytes[offset]
            offset += 1
            if introducer == 0x3B { return nil }
            if introducer == 0x21 {
                guard offset < bytes.count else { break }
                let label = bytes[offset]
                offset += 1
                let body = subBlocks()
                if label == 0xF9, body.count >= 4 {
                    if body[0] & 1 != 0 { transparency = Int(body[3]) }
                    delay = Int(body[1]) | Int(body[2]) << 8
                    let method = Int(body[0] >> 2) & 7
                    if method != 0 { disposalMethod = method }
                }
                continue
            }
            guard introducer == 0x2C else { return nil }
            guard offset + 9 <= bytes.count else { break }
            func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
            let (x0, y0) = (u16(offset), u16(offset + 2))
            let extent = Extent(x0: x0, y0: y0, x1: x0 + u16(offset + 4), y1: y0 + u16(offset + 6))
            let flags = Int(bytes[offset + 8])
            offset += 9
            var palette = globalPalette ?? []
            if flags & 0x80 != 0 {
                let size = 3 << ((flags & 7) + 1)
                palette = Array(bytes[offset..<min(offset + size, bytes.count)])
                offset += size
            }
            guard offset < bytes.count else { break }
            let minimumCodeSize = Int(bytes[offset])
            offset += 1
            return StoredImage(
                extent: extent, interlaced: flags & 0x40 != 0, palette: palette, minimumCodeSize: minimumCodeSize,
                data: subBlocks(keeping: keepingData), transparency: transparency, delay: delay)
        }
        note(.truncated)
        return nil
    }

    private func note(_ warning: MediaWarning) {
        if !warnings.contains(warning) { warnings.append(warning) }
    }

    /// The concatenated data of the sub-blocks at `offset`, which ends after their terminator. A
    /// block cut short by the end of the file is left out, as Pillow's decoder never sees it.
    private func subBlocks(keeping: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        while offset < bytes.count {
            let length = Int(bytes[offset])
            offset += 1
            if length == 0 { break }
            guard offset + length <= bytes.count else {
                offset = bytes.count
                break
            }
            if keeping { out += bytes[offset..<(offset + length)] }
            offset += length
        }
        return out
    }

    private func frame(_ image: StoredImage) -> FrameStamp {
        let (extent, palette, transparency) = (image.extent, image.palette, image.transparency)
        frameIndex += 1
        // As FFmpeg marks them: the first frame is the only keyframe.
        let stamp = FrameStamp(index: frameIndex, timestamp: roundedToMilliseconds(time), isKeyframe: frameIndex == 0)
        time += Double(image.delay < 2 ? 10 : image.delay) / 100
        let (width, height) = (canvas.width, canvas.height)
        // The frame's indices over the canvas, starting from its transparency index (or 0).
        var layer = [UInt8](repeating: UInt8(transparency ?? 0), count: width * height)
        if let warning = decodeLZW(
            image.data, minimumCodeSize: image.minimumCodeSize, extent: extent, interlaced: image.interlaced,
            into: &layer)
        {
            corruptPackets += 1
            note(warning)
        }
        let rgb = Self.rgb
        var restore: [UInt8]?
        if frameIndex == 0 {
            indexed = layer
            firstPalette = palette
            firstTransparency = transparency
        } else {
            if rgba == nil {
                // Pillow converts the canvas at the second frame: what frame 0's disposal left, then RGB(A).
                // (Frame 0's disposal is always a fill: "restore to previous" has nothing before it.)
                if let disposal = pendingDisposal, let fill = disposal.fill {
                    indexed.withUnsafeMutableBufferPointer { indexed in
                        forEachPixel(of: disposal.extent) { indexed[$0] = fill[0] }
                    }
                }
                let indexed = self.indexed
                var converted = [UInt8](repeating: 0, count: width * height * 4)
                for i in 0..<(width * height) {
                    let (r, g, b) = Self.colour(Int(indexed[i]), firstPalette)
                    converted[4 * i] = r
                    converted[4 * i + 1] = g
                    converted[4 * i + 2] = b
                    converted[4 * i + 3] = firstTransparency == Int(indexed[i]) ? 0 : 255
                }
                rgba = converted
                pendingDisposal = nil
            }
            if let disposal = pendingDisposal {
                if let fill = disposal.fill {
                    fillRGBA(fill, extent: disposal.extent)
                } else if let restore = disposal.restore {
                    pasteRGBA(restore, extent: disposal.extent)
                }
            }
            // Pillow takes "restore to previous" from the canvas as it is before this frame is drawn.
            if disposalMethod == 3 { restore = crop(extent) }
            // This frame over the canvas, its transparency as the mask.
            layer.withUnsafeBufferPointer { layer in
                rgba!.withUnsafeMutableBufferPointer { canvas in
                    forEachPixel(of: extent) { p in
                        let index = Int(layer[p])
                        if index == transparency { return }
                        (canvas[4 * p], canvas[4 * p + 1], canvas[4 * p + 2]) = rgb(index, palette)
                        canvas[4 * p + 3] = 255
                    }
                }
            }
        }
        // This frame's disposal, applied when the next frame is read.
        pendingDisposal = nil
        if disposalMethod == 2 {
            if let transparent = transparency {
                if frameIndex == 0 {
                    pendingDisposal = (extent, [UInt8(transparent)], nil)
                } else {
                    let (r, g, b) = rgb(transparent, palette)
                    pendingDisposal = (extent, [r, g, b, 0], nil)
                }
            } else if frameIndex == 0 {
                pendingDisposal = (extent, [UInt8(background)], nil)
            } else {
                let (r, g, b) = rgb(background, palette)
                pendingDisposal = (extent, [r, g, b, 255], nil)
            }
        } else if disposalMethod == 3 {
            if frameIndex == 0 {
                if let transparency { pendingDisposal = (extent, [UInt8(transparency)], nil) }
            } else {
                pendingDisposal = (extent, nil, restore)
            }
        }
        return stamp
    }

    func currentImage(outputSize: FrameSize?) throws(MediaError) -> RGBImage {
        let count = canvas.width * canvas.height
        var pixels = [UInt8](repeating: 0, count: count * 3)
        if let rgba {
            for i in 0..<count {
                pixels[3 * i] = rgba[4 * i]
                pixels[3 * i + 1] = rgba[4 * i + 1]
                pixels[3 * i + 2] = rgba[4 * i + 2]
            }
        } else {
            let (indexed, palette) = (self.indexed, firstPalette)
            for i in 0..<count {
                (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = Self.colour(Int(indexed[i]), palette)
            }
        }
        let image = RGBImage(width: canvas.width, height: canvas.height, pixels: pixels)
        guard let outputSize, outputSize != canvas else { return image }
        return try RGBResizer.resize(image, to: outputSize, path: path)
    }

    /// A palette entry as Pillow's `_rgb` reads one (index 0 past the palette's end); without a
    /// palette the index is a grey level (Pillow's mode L).
    private static func rgb(_ index: Int, _ palette: [UInt8]) -> (UInt8, UInt8, UInt8) {
        guard !palette.isEmpty else { return (UInt8(index), UInt8(index), UInt8(index)) }
        let i = index * 3 + 3 <= palette.count ? index * 3 : 0
        guard i + 3 <= palette.count else { return (0, 0, 0) }
        return (palette[i], palette[i + 1], palette[i + 2])
    }

    /// A canvas index as Pillow's P → RGB conversion shows it (black past the palette's end).
    private static func colour(_ index: Int, _ palette: [UInt8]) -> (UInt8, UInt8, UInt8) {
        guard !palette.isEmpty else { return (UInt8(index), UInt8(index), UInt8(index)) }
        guard index * 3 + 3 <= palette.count else { return (0, 0, 0) }
        return (palette[index * 3], palette[index * 3 + 1], palette[index * 3 + 2])
    }

    // MARK: Canvas edits, clipped to the canvas

    private func clipped(_ e: Extent) -> (Range<Int>, Range<Int>) {
        (
            max(e.y0, 0)..<max(min(e.y1, canvas.height), max(e.y0, 0)),
            max(e.x0, 0)..<max(min(e.x1, canvas.width), max(e.x0, 0))
        )
    }

    /// Calls `body` with the canvas offset of each pixel of `extent` inside the canvas, row by row.
    private func forEachPixel(of extent: Extent, _ body: (Int) -> Void) {
        let (rows, columns) = clipped(extent)
        for y in rows {
            let base = y * canvas.width
            for x in columns { body(base + x) }
        }
    }

    private func fillRGBA(_ colour: [UInt8], extent: Extent) {
        let (r, g, b, a) = (colour[0], colour[1], colour[2], colour[3])
        rgba!.withUnsafeMutableBufferPointer { canvas in
            forEachPixel(of: extent) { p in
                (canvas[4 * p], canvas[4 * p + 1], canvas[4 * p + 2], canvas[4 * p + 3]) = (r, g, b, a)
            }
        }
    }

    private func crop(_ extent: Extent) -> [UInt8] {
        var out: [UInt8] = []
        rgba!.withUnsafeBufferPointer { canvas in
            forEachPixel(of: extent) { p in out.append(contentsOf: canvas[(4 * p)..<(4 * p + 4)]) }
        }
        return out
    }

    private func pasteRGBA(_ values: [UInt8], extent: Extent) {
        var i = 0
        rgba!.withUnsafeMutableBufferPointer { canvas in
            forEachPixel(of: extent) { p in
                for c in 0..<4 { canvas[4 * p + c] = values[i + c] }
                i += 4
            }
        }
    }

    // MARK: LZW

    /// Decodes GIF's LZW into `extent` of `layer` (clipped to the canvas), rows in interlaced order
    /// when asked. At damaged or missing data it stops, leaving the rest as it was (as Pillow does
    /// with `LOAD_TRUNCATED_IMAGES`), and says which; nil when every pixel was decoded.
    private func decodeLZW(
        _ data: [UInt8], minimumCodeSize: Int, extent: Extent, interlaced: Bool, into layer: inout [UInt8]
    ) -> MediaWarning? {
        let width = extent.x1 - extent.x0
        let height = extent.y1 - extent.y0
        guard width > 0, height > 0 else { return nil }
        let damaged = MediaWarning.damaged("bad LZW data in a GIF frame")
        // Codes below the clear code are palette indices, which fit a byte.
        guard (1...8).contains(minimumCodeSize) else { return damaged }
        let rowOrder: [Int] =
            interlaced
            ? Array(stride(from: 0, to: height, by: 8)) + Array(stride(from: 4, to: height, by: 8))
                + Array(stride(from: 2, to: height, by: 4)) + Array(stride(from: 1, to: height, by: 2))
            : Array(0..<height)
        let clear = 1 << minimumCodeSize
        let end = clear + 1
        var prefix = [Int](repeating: -1, count: 4096)
        var suffix = [UInt8](repeating: 0, count: 4096)
        var first = [UInt8](repeating: 0, count: 4096)
        for i in 0..<clear {
            suffix[i] = UInt8(i)
            first[i] = UInt8(i)
        }
        var next = end + 1
        var size = minimumCodeSize + 1
        var previous = -1
        var bitBuffer = 0
        var bitCount = 0
        var produced = 0
        let total = width * height
        var stack = [UInt8](repeating: 0, count: 4097)
        /// The canvas offset of the start of the frame's `n`th stored row; nil off the canvas.
        func rowBase(_ n: Int) -> Int? {
            guard n < height else { return nil }
            let y = extent.y0 + rowOrder[n]
            return y >= 0 && y < canvas.height ? y * canvas.width : nil
        }
        var (row, column, base) = (0, 0, rowBase(0))
        func emit(_ value: UInt8) {
            guard produced < total else { return }
            let x = extent.x0 + column
            if let base, x >= 0, x < canvas.width { layer[base + x] = value }
            produced += 1
            column += 1
            if column == width {
                (row, column) = (row + 1, 0)
                base = rowBase(row)
            }
        }
        var byteIndex = 0
        while produced < total {
            while bitCount < size {
                guard byteIndex < data.count else { return .truncated }
                bitBuffer |= Int(data[byteIndex]) << bitCount
                byteIndex += 1
                bitCount += 8
            }
            let code = bitBuffer & ((1 << size) - 1)
            bitBuffer >>= size
            bitCount -= size
            if code == clear {
                next = end + 1
                size = minimumCodeSize + 1
                previous = -1
                continue
            }
            if code == end { return damaged }
            var depth = 0
            var current = code
            if previous == -1 {
                guard code < clear else { return damaged }
                emit(UInt8(code))
                previous = code
                continue
            }
            if code >= next {
                guard code == next else { return damaged }
                stack[depth] = first[previous]
                depth += 1
                current = previous
            }
            while current >= clear {
                stack[depth] = suffix[current]
                depth += 1
                current = prefix[current]
                guard current >= 0, depth < 4096 else { return damaged }
            }
            stack[depth] = UInt8(current)
            depth += 1
            if next < 4096 {
                prefix[next] = previous
                suffix[next] = UInt8(current)
                first[next] = first[previous]
                next += 1
                if next == 1 << size && size < 12 { size += 1 }
            }
            while depth > 0 {
                depth -= 1
                emit(stack[depth])
            }
            previous = code
        }
        return nil
    }
}
