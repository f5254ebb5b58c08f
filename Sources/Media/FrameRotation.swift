import CFFmpeg
import Foundation

/// Turns decoded pictures upright as the container's display matrix says (a phone filming in portrait stores
/// landscape pixels and a 90° turn), as the ffmpeg CLI's autorotation does: quarter turns clockwise.
public struct FrameRotation: Sendable, Equatable {
    /// 0, 1, 2 or 3 quarter turns clockwise.
    public let quarterTurns: Int

    public init(quarterTurns: Int) { self.quarterTurns = ((quarterTurns % 4) + 4) % 4 }

    /// The turn a stream's display matrix asks for; none when it has no matrix or one that is not a quarter turn
    /// (a mirror or a skew is left as stored, and the caller warned by `isExact`).
    static func of(_ stream: UnsafeMutablePointer<AVStream>) -> FrameRotation {
        var size: Int = 0
        guard let data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 9 * MemoryLayout<Int32>.size else {
            return FrameRotation(quarterTurns: 0)
        }
        let degrees = data.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        guard degrees.isFinite else { return FrameRotation(quarterTurns: 0) }
        // av_display_rotation_get is counter-clockwise; the picture is shown turned the other way.
        let clockwise = (-degrees).truncatingRemainder(dividingBy: 360)
        let turns = Int((clockwise / 90).rounded())
        return abs(clockwise - Double(turns) * 90) < 1 ? FrameRotation(quarterTurns: turns) : FrameRotation(quarterTurns: 0)
    }

    /// Whether width and height trade places.
    public var swapsDimensions: Bool { quarterTurns % 2 == 1 }

    /// `frame` turned upright (a new 4:2:0 frame; timestamps and properties kept); the frame itself when no turn is
    /// needed. Other pixel formats are converted to 8-bit 4:2:0 first, the format every rung is encoded from.
    public func apply(to frame: Frame, converter: inout Scaler?) throws -> Frame {
        guard quarterTurns != 0 else { return frame }
        var source = frame
        if frame.pixelFormat != AV_PIX_FMT_YUV420P && frame.pixelFormat != AV_PIX_FMT_YUVJ420P {
            if converter == nil { converter = Scaler(width: frame.width, height: frame.height, format: AV_PIX_FMT_YUV420P) }
            source = try converter!.scale(frame)
        }
        let width = source.width, height = source.height
        let out = try Frame.video(width: swapsDimensions ? height : width, height: swapsDimensions ? width : height, format: source.pixelFormat)
        for plane in 0..<3 {
            let shift = plane == 0 ? 0 : 1
            let inWidth = (width + shift) >> shift, inHeight = (height + shift) >> shift
            let outWidth = swapsDimensions ? inHeight : inWidth, outHeight = swapsDimensions ? inWidth : inHeight
            guard let input = planePointer(source, plane), let output = planePointer(out, plane) else { continue }
            let inStride = Int(lineSize(source, plane)), outStride = Int(lineSize(out, plane))
            for row in 0..<outHeight {
                let destination = output + row * outStride
                for column in 0..<outWidth {
                    let (sourceRow, sourceColumn): (Int, Int)
                    switch quarterTurns {
                    case 1: (sourceRow, sourceColumn) = (inHeight - 1 - column, row)
                    case 2: (sourceRow, sourceColumn) = (inHeight - 1 - row, inWidth - 1 - column)
                    default: (sourceRow, sourceColumn) = (column, inWidth - 1 - row)
                    }
                    destination[column] = input[sourceRow * inStride + sourceColumn]
                }
            }
        }
        try ffCheck(av_frame_copy_props(out.pointer, source.pointer), "av_frame_copy_props")
        out.pointer.pointee.pts = frame.pointer.pointee.pts
        out.pointer.pointee.sample_aspect_ratio = rotated(source.pointer.pointee.sample_aspect_ratio)
        return out
    }

    /// A sample aspect ratio as seen after the turn (unknown stays unknown).
    func rotated(_ ratio: AVRational) -> AVRational {
        swapsDimensions && ratio.num > 0 && ratio.den > 0 ? AVRational(num: ratio.den, den: ratio.num) : ratio
    }

    private func planePointer(_ frame: Frame, _ plane: Int) -> UnsafeMutablePointer<UInt8>? {
        switch plane {
        case 0: return frame.pointer.pointee.data.0
        case 1: return frame.pointer.pointee.data.1
        default: return frame.pointer.pointee.data.2
        }
    }

    private func lineSize(_ frame: Frame, _ plane: Int) -> Int32 {
        switch plane {
        case 0: return frame.pointer.pointee.linesize.0
        case 1: return frame.pointer.pointee.linesize.1
        default: return frame.pointer.pointee.linesize.2
        }
    }
}

