import CFFmpeg

/// A rational number as FFmpeg keeps time bases, frame rates and pixel shapes, in Swift terms: the rest of Prism
/// sees this, never FFmpeg's `AVRational`.
public struct Rational: Hashable, Sendable, CustomStringConvertible {
    public var num: Int32
    public var den: Int32

    public init(num: Int32, den: Int32) {
        self.num = num
        self.den = den
    }

    init(_ value: AVRational) {
        self.init(num: value.num, den: value.den)
    }

    /// FFmpeg's form, for its calls.
    var av: AVRational { AVRational(num: num, den: den) }

    /// The value as a double; 0 when the denominator is 0 (FFmpeg's "unknown").
    public var doubleValue: Double { den == 0 ? 0 : Double(num) / Double(den) }

    /// Both parts positive: a usable rate, time base or shape.
    public var isPositive: Bool { num > 0 && den > 0 }

    /// Its reciprocal (a frame rate's time base).
    public var inverted: Rational { Rational(num: den, den: num) }

    public var description: String { "\(num)/\(den)" }

    /// `value` (in units of `from`) in units of `to`, rounded to the nearest (FFmpeg's `av_rescale_q`).
    public static func rescale(_ value: Int64, from: Rational, to: Rational) -> Int64 {
        av_rescale_q(value, from.av, to.av)
    }
}

/// A picture's pixel layout, for the few layouts Prism asks for by name; the rest of Prism sees this, never FFmpeg's
/// `AVPixelFormat`.
public struct PixelFormat: Hashable, Sendable, CustomStringConvertible {
    let raw: Int32

    init(_ format: AVPixelFormat) { raw = format.rawValue }
    init(raw: Int32) { self.raw = raw }

    var av: AVPixelFormat { AVPixelFormat(rawValue: raw) }

    /// Planar 4:2:0, 8 bits: what every rendition is encoded from.
    public static let yuv420p = PixelFormat(AV_PIX_FMT_YUV420P)
    /// The same with full-range (JPEG) levels.
    public static let yuvj420p = PixelFormat(AV_PIX_FMT_YUVJ420P)
    /// 4:2:0 with interleaved chroma: what hardware encoders take.
    public static let nv12 = PixelFormat(AV_PIX_FMT_NV12)
    /// Frames held by a VAAPI device.
    public static let vaapi = PixelFormat(AV_PIX_FMT_VAAPI)
    /// Frames held by an Intel Quick Sync device.
    public static let qsv = PixelFormat(AV_PIX_FMT_QSV)

    /// FFmpeg's name for it (`yuv420p`), or "none".
    public var description: String { av_get_pix_fmt_name(av).map { String(cString: $0) } ?? "none" }
}
