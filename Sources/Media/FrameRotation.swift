import CFFmpeg
import Foundation

/// The turn a container's display matrix asks for (a phone filming in portrait stores landscape pixels and a 90°
/// turn), as the ffmpeg CLI's autorotation applies it: quarter turns clockwise. `VideoFrameReader` turns frames with
/// FFmpeg's own filters (`filter`).
public struct FrameRotation: Sendable, Equatable {
    /// 0, 1, 2 or 3 quarter turns clockwise.
    public let quarterTurns: Int

    public init(quarterTurns: Int) { self.quarterTurns = ((quarterTurns % 4) + 4) % 4 }

    /// The turn a stream's display matrix asks for; none when it has no matrix or one that is not a quarter turn
    /// (a mirror or a skew is left as stored).
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

    /// The FFmpeg filters that make the turn (the ffmpeg CLI's own choice for each); nil for none.
    var filter: String? {
        switch quarterTurns {
        case 1: return "transpose=clock"
        case 2: return "hflip,vflip"
        case 3: return "transpose=cclock"
        default: return nil
        }
    }

    /// A sample aspect ratio as seen after the turn (unknown stays unknown).
    func rotated(_ ratio: Rational) -> Rational {
        swapsDimensions && ratio.isPositive ? ratio.inverted : ratio
    }
}
