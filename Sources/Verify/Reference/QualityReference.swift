import Foundation
import Media

/// The verifier's own honest encode of a few source frames at the rendition's size and asked bitrate:
/// what an honest farmer's quality looks like for this content and rung, learnt instead of assumed.
public enum QualityReference {
    /// x264 `ultrafast`: the cheapest encode an honest farmer may deliver (every preset must pass), so the
    /// floor is set by the worst honest encoder, and it is the cheapest for the verifier to run.
    public static let encoderName = "libx264"
    public static let preset = "ultrafast"
    /// Frames encoded per reference window: one keyframe and the predicted frames after it.
    public static let windowFrames = 6
    /// Frames at the end of the window that are compared (the keyframe's extra bits excluded).
    public static let comparedFrames = 3

    /// libavcodec options and threads of the reference encoder itself.
    static let ultrafastSettings: (options: [String: String], threads: Int) = (["preset": preset], 1)
    /// The first, probing encode's constant rate factor; the second is set from what it spent.
    static let probeRateFactor = 30.0
    /// x264's rate model: about twice the bits for every 6 steps down in QP.
    static let qpStepsPerDoubling = 6.0

    /// Encodes `frames` (4:2:0, rendition size, in order) as an honest encoder would spend `bitrate` on them
    /// and returns the decoded pictures. A few frames are too few for ABR rate control (the keyframe would
    /// eat the budget), so the window is encoded twice at a constant rate factor: once to learn what this
    /// content costs, once at the factor that spends the asked bits per predicted frame. The window's keyframe
    /// is held at the size of the rendition's own keyframe (`keyframeBytes`, by a fixed QP found on it alone):
    /// left to the rate factor it came free, and on still content the predicted frames after a near-lossless
    /// keyframe stay near-lossless for few bits, which no honest encode that paid for its keyframe can match.
    /// With `settings` (libavcodec options and threads, as `X264Settings` reproduces a rendition's own), the window
    /// is encoded with those instead of `ultrafast`.
    /// `hints` (with the key naming the rung) start the keyframe's quantiser search where the last one of the rung ended.
    public static func encode(_ frames: [Frame], bitrate: Int, keyframeBytes: Int?, frameRate: Rational,
                              settings: (options: [String: String], threads: Int)? = nil,
                              hints: (SearchHints, String)? = nil) throws -> (pictures: [YUVImage], rateFactor: Double, keyframeQP: Int?, framesEncoded: Int) {
        let rate = frameRate.isPositive ? frameRate : Rational(num: 30, den: 1)
        let bitsPerFrame = Double(bitrate) * Double(rate.den) / Double(rate.num)
        let base = settings ?? ultrafastSettings
        let held = try keyframeBytes.map { bytes -> (qp: Int?, encodes: Int) in
            let start = hints.flatMap { $0.0.start($0.1, bytes: bytes) }.map { Int($0.rounded()) } ?? 26
            let found = try quantiser(for: frames[0], bytes: bytes, frameRate: rate, settings: base, start: start)
            if let hints, let qp = found.qp { hints.0.record(hints.1, value: Double(qp), bytes: bytes) }
            return found
        }
        let keyframeQP = held?.qp
        let framesEncoded = 2 * frames.count + (held?.encodes ?? 0)
        let probe = try encodeOnce(frames, rateFactor: probeRateFactor, keyframeQP: keyframeQP, frameRate: rate, settings: base, decode: false)
        let predicted = probe.packets.filter { !$0.isKeyFrame }.map { Double($0.size * 8) }
        guard !predicted.isEmpty else { return (try encodeOnce(frames, rateFactor: probeRateFactor, keyframeQP: keyframeQP, frameRate: rate, settings: base, decode: true).pictures, probeRateFactor, keyframeQP, framesEncoded) }
        let spent = max(64, predicted.reduce(0, +) / Double(predicted.count))
        // Predicted frames are not quantised finer than the keyframe they follow (x264 itself keeps them about 3
        // QP coarser): on still content, bits per predicted frame alone would buy the reference a near-lossless
        // refinement (rate factor 6–7 at 720p@1.6 Mbit/s) that no encoder which paid for its keyframe makes.
        let factor = min(51, max(Double(keyframeQP ?? 0), probeRateFactor + qpStepsPerDoubling * log2(spent / bitsPerFrame)))
        return (try encodeOnce(frames, rateFactor: factor, keyframeQP: keyframeQP, frameRate: rate, settings: base, decode: true).pictures, factor, keyframeQP, framesEncoded)
    }

    /// The smallest x264 `ultrafast` QP at which `frame`, coded on its own, takes no more than `bytes` of slice
    /// data (nil when none does), and how many one-frame encodes finding it took.
    static func quantiser(for frame: Frame, bytes: Int, frameRate rate: Rational,
                          settings: (options: [String: String], threads: Int) = ultrafastSettings, start: Int = 26) throws -> (qp: Int?, encodes: Int) {
        guard bytes > 0 else { return (nil, 0) }
        var sizes: [Int: Int] = [:]
        func size(_ qp: Int) throws -> Int {
            if let known = sizes[qp] { return known }
            let packets = try encodeX264([frame], options: settings.options.merging(["qp": String(qp)]) { $1 }, threads: settings.threads,
                                         frameRate: rate, decode: false).packets
            let measured = packets.first.map { H264SliceBytes.count($0.data) } ?? 0
            sizes[qp] = measured
            return measured
        }
        var qp = min(51, max(1, start))
        for _ in 0..<4 {
            let measured = try size(qp)
            guard measured > 0 else { return (nil, sizes.count) }
            let next = min(51, max(1, qp + Int((qpStepsPerDoubling * log2(Double(measured) / Double(bytes))).rounded())))
            if next == qp { break }
            qp = next
        }
        // Step to the smallest QP that fits.
        while qp < 51, try size(qp) > bytes { qp += 1 }
        while qp > 1, try size(qp - 1) <= bytes { qp -= 1 }
        let fits = try size(qp) <= bytes
        return (fits ? qp : nil, sizes.count)
    }

    private static func encodeOnce(_ frames: [Frame], rateFactor: Double, keyframeQP: Int?, frameRate rate: Rational,
                                   settings: (options: [String: String], threads: Int), decode: Bool) throws -> (packets: [Packet], pictures: [YUVImage]) {
        var options = settings.options
        options["crf"] = String(format: "%.2f", rateFactor)
        if let keyframeQP {
            let zone = "zones=0,0,q=\(keyframeQP)"
            options["x264-params"] = options["x264-params"].map { $0.isEmpty ? zone : $0 + ":" + zone } ?? zone
        }
        return try encodeX264(frames, options: options, threads: settings.threads, frameRate: rate, decode: decode)
    }

    /// Encodes `frames` with libx264 and the given private options (one GOP, no B-frames, one thread unless
    /// told) and, when `decode`, decodes the result back to 4:2:0 pictures. With `firstPacketOnly`, frames are fed
    /// only until the first packet comes out (later ones just fill the lookahead) and only that one is returned.
    static func encodeX264(_ frames: [Frame], options: [String: String], threads: Int = 1, frameRate rate: Rational, decode: Bool,
                           firstPacketOnly: Bool = false) throws -> (packets: [Packet], pictures: [YUVImage]) {
        guard let first = frames.first else { return ([], []) }
        var settings = VideoEncoderSettings(encoderName: encoderName, width: first.width, height: first.height,
                                            timeBase: rate.inverted, frameRate: rate)
        settings.gopSize = frames.count
        settings.maxBFrames = 0
        settings.threads = threads
        settings.options = options
        let encoder = try Encoder(video: settings)
        var packets: [Packet] = []
        for (index, frame) in frames.enumerated() where !(firstPacketOnly && !packets.isEmpty) {
            let input = try frame.reference()
            input.pts = Int64(index)
            packets += try encoder.encode(input)
        }
        if !(firstPacketOnly && !packets.isEmpty) { packets += try encoder.encode(nil) }
        if firstPacketOnly { packets = Array(packets.prefix(1)) }
        guard decode else { return (packets, []) }
        let decoder = try EncodedPacketDecoder(for: encoder)
        var decoded: [Frame] = []
        for packet in packets { decoded += try decoder.decode(packet) }
        decoded += try decoder.decode(nil)
        var converter: Scaler?
        return (packets, try decoded.map { YUVImage(frame: try FramePlanes.as420($0, converter: &converter), time: 0) })
    }
}
