import CFFmpeg

/// The frames of a source file that make up one segment: those whose presentation time lies in
/// [start, end), in `timeBase`. A segment cut from a source with sparse keyframes starts at the keyframe
/// before it, so its file holds frames that only prime the decoder; the window says which ones count.
public struct SegmentWindow: Codable, Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    public var timeBaseNumerator: Int32
    public var timeBaseDenominator: Int32

    public init(start: Int64, end: Int64, timeBase: Rational) {
        self.start = start
        self.end = end
        timeBaseNumerator = timeBase.num
        timeBaseDenominator = timeBase.den
    }

    public var timeBase: Rational { Rational(num: timeBaseNumerator, den: timeBaseDenominator) }

    /// Whether the numbers describe a window at all (a peer may send anything).
    public var isValid: Bool {
        timeBaseNumerator > 0 && timeBaseDenominator > 0 && start < end && start > Int64.min / 4 && end < Int64.max / 4
    }

    /// Whether `pts`, in `streamTimeBase`, falls inside the window.
    public func contains(_ pts: Int64, in streamTimeBase: Rational) -> Bool {
        let time = Rational.rescale(pts, from: streamTimeBase, to: timeBase)
        return time >= start && time < end
    }
}
