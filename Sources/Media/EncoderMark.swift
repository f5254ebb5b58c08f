import Foundation

/// The marks software encoders write into their streams (an SEI "user data unregistered" message): x264's
/// `x264 - core 164 … - options: cabac=1 ref=3 …`, x265's `x265 (build 199) - …`. The one scanner for them: which
/// encoder made a stream (Honesty's bitstream fingerprint) and the settings x264 used (Verify's keyframe cost).
public enum EncoderMark {
    static let x264 = Array("x264 - core".utf8)
    static let x265 = Array("x265 (build".utf8)
    static let options = Array("options: ".utf8)

    /// The encoder whose mark `bytes` carry (`libx264`, `libx265`) and the start of the mark as printable text (up to
    /// `evidenceLength` bytes); nil when neither is there.
    public static func identify(_ bytes: UnsafeRawBufferPointer, evidenceLength: Int = 24) -> (encoder: String, evidence: String)? {
        for (encoder, marker) in [("libx264", x264), ("libx265", x265)] {
            if let start = find(marker, in: bytes, from: 0) { return (encoder, printable(bytes, from: start, limit: evidenceLength)) }
        }
        return nil
    }

    /// The text of x264's `options: …` list, when `bytes` carry x264's mark.
    public static func x264Options(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let start = find(x264, in: bytes, from: 0), let listed = find(options, in: bytes, from: start) else { return nil }
        return printable(bytes, from: listed + options.count, limit: bytes.count)
    }

    /// Bytes from `start` while they are printable ASCII, at most `limit` of them.
    static func printable(_ bytes: UnsafeRawBufferPointer, from start: Int, limit: Int) -> String {
        var end = start
        while end < bytes.count, end - start < limit, bytes[end] >= 0x20, bytes[end] < 0x7F { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = needle.first, bytes.count >= needle.count, from <= bytes.count - needle.count else { return nil }
        var index = from
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first {
                var k = 1
                while k < needle.count && bytes[index + k] == needle[k] { k += 1 }
                if k == needle.count { return index }
            }
            index += 1
        }
        return nil
    }
}
