import Foundation
import Media

/// A borrowed 8-bit picture plane: valid only while whatever owns the pixels lives.
public struct PlaneView {
    public let base: UnsafePointer<UInt8>
    /// Bytes from one row to the next.
    public let stride: Int
    public let width: Int
    public let height: Int

    public init(base: UnsafePointer<UInt8>, stride: Int, width: Int, height: Int) {
        self.base = base
        self.stride = stride
        self.width = width
        self.height = height
    }

    @inline(__always) public func row(_ y: Int) -> UnsafePointer<UInt8> { base + y * stride }
}

/// An owned 8-bit plane (tightly packed), for analyses that keep pictures around.
public struct PlaneImage: Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height))
    }

    /// Copies a borrowed plane.
    public init(copying view: PlaneView) {
        var pixels = [UInt8](repeating: 0, count: view.width * view.height)
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<view.height {
                (out.baseAddress! + y * view.width).update(from: view.row(y), count: view.width)
            }
        }
        self.init(width: view.width, height: view.height, pixels: pixels)
    }

    @inline(__always) public subscript(x: Int, y: Int) -> UInt8 { pixels[y * width + x] }

    /// Runs `body` with a borrowed view of this plane.
    public func withView<R>(_ body: (PlaneView) throws -> R) rethrows -> R {
        try pixels.withUnsafeBufferPointer { try body(PlaneView(base: $0.baseAddress!, stride: width, width: width, height: height)) }
    }

    /// Mean of a rectangle's samples.
    public func mean(x: Int, y: Int, width w: Int, height h: Int) -> Double {
        var sum = 0
        for row in y..<(y + h) { for column in x..<(x + w) { sum += Int(pixels[row * width + column]) } }
        return Double(sum) / Double(max(1, w * h))
    }

    /// This plane mirrored left to right.
    public func mirroredHorizontally() -> PlaneImage {
        var out = pixels
        for y in 0..<height { for x in 0..<width { out[y * width + x] = pixels[y * width + width - 1 - x] } }
        return PlaneImage(width: width, height: height, pixels: out)
    }

    /// This plane upside down.
    public func mirroredVertically() -> PlaneImage {
        var out = pixels
        for y in 0..<height { for x in 0..<width { out[y * width + x] = pixels[(height - 1 - y) * width + x] } }
        return PlaneImage(width: width, height: height, pixels: out)
    }

    /// Box-averaged down by an integer factor (cheap comparisons that ignore coding noise).
    public func reduced(by factor: Int) -> PlaneImage {
        let w = width / factor, h = height / factor
        guard w > 0, h > 0 else { return self }
        var out = [UInt8](repeating: 0, count: w * h)
        let area = factor * factor
        for by in 0..<h {
            for bx in 0..<w {
                var sum = 0
                for y in (by * factor)..<(by * factor + factor) {
                    let rowStart = y * width + bx * factor
                    for x in 0..<factor { sum += Int(pixels[rowStart + x]) }
                }
                out[by * w + bx] = UInt8((sum + area / 2) / area)
            }
        }
        return PlaneImage(width: w, height: h, pixels: out)
    }
}

/// A decoded picture as three owned 8-bit planes (Y, U, V of 4:2:0).
public struct YUVImage: Sendable {
    public var planes: [PlaneImage]
    /// Presentation time relative to the first frame of its stream, seconds.
    public var time: Double

    public var width: Int { planes[0].width }
    public var height: Int { planes[0].height }
    public var luma: PlaneImage { planes[0] }

    public init(planes: [PlaneImage], time: Double) {
        self.planes = planes
        self.time = time
    }

    /// Copies a yuv420p frame's planes (other formats are converted first by the caller).
    public init(frame: Frame, time: Double) {
        planes = FramePlanes.views(of: frame).map(PlaneImage.init(copying:))
        self.time = time
    }
}

/// Plane geometry of the 4:2:0 frames Prism compares.
public enum FramePlanes {
    /// Plane sizes as FFmpeg computes them: chroma is the luma size halved, rounded up (`AV_CEIL_RSHIFT`).
    public static func sizes(width: Int, height: Int) -> [(width: Int, height: Int)] {
        let cw = -((-width) >> 1), ch = -((-height) >> 1)
        return [(width, height), (cw, ch), (cw, ch)]
    }

    /// Borrowed views of the three planes of a yuv420p frame, valid while `frame` lives.
    public static func views(of frame: Frame) -> [PlaneView] {
        sizes(width: frame.width, height: frame.height).enumerated().map { index, size in
            PlaneView(base: UnsafePointer(frame.planeBase(index)!), stride: frame.lineSize(index), width: size.width, height: size.height)
        }
    }

    /// The frame in 8-bit 4:2:0 at its own size (decoders of 10-bit or 4:4:4 streams give other formats).
    public static func as420(_ frame: Frame, converter: inout Scaler?) throws -> Frame {
        if frame.pixelFormat == PixelFormat.yuv420p || frame.pixelFormat == PixelFormat.yuvj420p { return frame }
        if converter == nil || converter!.output.width != frame.width || converter!.output.height != frame.height {
            converter = Scaler(width: frame.width, height: frame.height, format: PixelFormat.yuv420p, algorithm: .bicubic)
        }
        return try converter!.scale(frame)
    }
}
