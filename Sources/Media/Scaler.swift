import CFFmpeg

/// Converts frames between sizes and pixel formats (`SwsContext`), one fixed geometry per scaler.
public final class Scaler {
    private var context: OpaquePointer?
    public let output: (width: Int, height: Int, format: PixelFormat)
    private var input: (width: Int, height: Int, format: PixelFormat)?
    public let algorithm: Algorithm

    /// swscale's kernels; bicubic is the default of FFmpeg's `scale` filter and what Prism scales with. The
    /// others let the verifier find the one that best explains a farmer's rendition.
    public enum Algorithm: String, Sendable, CaseIterable {
        case bicubic, bilinear, area, lanczos, spline
        case fastBilinear = "fast_bilinear"
        var flags: Int32 {
            switch self {
            case .bicubic: return cffmpeg_sws_bicubic()
            case .bilinear: return cffmpeg_sws_bilinear()
            case .area: return cffmpeg_sws_area()
            case .lanczos: return cffmpeg_sws_lanczos()
            case .spline: return cffmpeg_sws_spline()
            case .fastBilinear: return cffmpeg_sws_fast_bilinear()
            }
        }
    }

    public init(width: Int, height: Int, format: PixelFormat = .yuv420p, algorithm: Algorithm = .bicubic) {
        output = (width, height, format)
        self.algorithm = algorithm
    }

    deinit { sws_freeContext(context) }

    /// A new frame holding `frame` at the output geometry, with its timestamps.
    public func scale(_ frame: Frame) throws -> Frame {
        try prepare(for: frame)
        let result = try Frame.video(width: output.width, height: output.height, format: output.format)
        try withPlanePointers(frame) { sourceData, sourceLines in
            try withPlanePointers(result) { destinationData, destinationLines in
                let source = UnsafeRawPointer(sourceData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
                let rows = sws_scale(context, source, sourceLines, 0, Int32(frame.height), destinationData, destinationLines)
                try ffCheck(rows, "sws_scale")
            }
        }
        result.pts = frame.pts
        result.duration = frame.duration
        return result
    }

    private func prepare(for frame: Frame) throws {
        let geometry = (frame.width, frame.height, frame.pixelFormat)
        if let input, input == geometry, context != nil { return }
        sws_freeContext(context)
        context = sws_getContext(Int32(frame.width), Int32(frame.height), frame.pixelFormat.av,
                                 Int32(output.width), Int32(output.height), output.format.av,
                                 algorithm.flags, nil, nil, nil)
        guard context != nil else {
            throw FFmpegError(code: cffmpeg_averror(EINVAL), function: "sws_getContext(\(frame.width)x\(frame.height) → \(output.width)x\(output.height))")
        }
        input = geometry
    }
}

/// Hands sws_scale the plane pointer and line-size arrays of a frame.
func withPlanePointers<R>(_ frame: Frame, _ body: (UnsafePointer<UnsafeMutablePointer<UInt8>?>, UnsafePointer<Int32>) throws -> R) rethrows -> R {
    try withUnsafePointer(to: &frame.pointer.pointee.data) { data in
        try withUnsafePointer(to: &frame.pointer.pointee.linesize) { lines in
            try data.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dataPointer in
                try lines.withMemoryRebound(to: Int32.self, capacity: 8) { linePointer in
                    try body(dataPointer, linePointer)
                }
            }
        }
    }
}
