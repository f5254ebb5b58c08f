import Foundation
import Media

/// What a keyframe's bits bought. A keyframe is coded on its own, so the same encoder with the same settings,
/// given the clean source picture and the same number of bytes, must reach about the same quality. A rendition
/// keyframe markedly worse than that spent its bits on something that is not in the source: noise or grain
/// added before encoding (which the encoder then mostly quantises away, so it hardly shows as detail).
enum KeyframeCost {
    /// Rate-model steps of the bisection (x264: about twice the bits for every 6 steps down in CRF).
    static let maximumEncodes = 5
    /// Sizes within this fraction of the target count as equal.
    static let sizeTolerance = 0.03
    /// Two encodes within this factor of the target size are interpolated (or extrapolated) instead of a third.
    static let maximumExtrapolation = 1.25

    /// The swscale kernels a farmer might have scaled with, Prism's own (bicubic) first; only that one when the
    /// rendition has the source's size.
    static func kernels(source: Frame, width: Int, height: Int) -> [Scaler.Algorithm] {
        source.width == width && source.height == height ? [.bicubic] : Scaler.Algorithm.allCases
    }

    /// The source picture scaled to `width`×`height` (4:2:0) with `algorithm`, as a frame and as planes.
    static func scaled(_ source: Frame, width: Int, height: Int, algorithm: Scaler.Algorithm) throws -> (frame: Frame, image: YUVImage) {
        let frame = try Scaler(width: width, height: height, format: PixelFormat.yuv420p, algorithm: algorithm).scale(source)
        return (frame, YUVImage(frame: frame, time: 0))
    }

    /// Encodes `frames` (the keyframe's picture first, then what the encoder's lookahead needs) with `options`
    /// until the keyframe comes out, at the size `targetBytes` (slice data), and returns the luma PSNR it
    /// reaches there against `sourceImage` (interpolated in log size between the two nearest encodes), or nil
    /// when the encoder cannot reach that size.
    static func referencePsnr(frames: [Frame], sourceImage: YUVImage, options baseOptions: (options: [String: String], threads: Int),
                              targetBytes: Int, startFactor: Double = 23) throws -> (psnr: Double, encodes: Int, factor: Double)? {
        guard targetBytes > 0, !frames.isEmpty else { return nil }
        var points: [(bytes: Int, psnr: Double, factor: Double)] = []
        var factor = startFactor
        let target = Double(targetBytes)
        for _ in 0..<maximumEncodes {
            var options = baseOptions.options
            options["crf"] = String(format: "%.2f", factor)
            guard let (size, picture) = try firstPicture(frames, options: options, threads: baseOptions.threads) else { return nil }
            let psnr = PSNRKernel.psnr(meanSquaredError: max(1e-6, PictureStatistics.meanSquaredDifference(picture.luma, sourceImage.luma)))
            points.append((size, psnr, factor))
            let error = log2(Double(size) / target)
            if abs(error) < log2(1 + sizeTolerance) { return (psnr, points.count, factor) }
            let below = points.filter { Double($0.bytes) <= target }.max { $0.bytes < $1.bytes }
            let above = points.filter { Double($0.bytes) >= target }.min { $0.bytes < $1.bytes }
            if let below, let above, Double(above.bytes) / Double(below.bytes) < 1.25 { break }
            // Two encodes whose sizes lie within a quarter of the target: PSNR is close to linear in log size
            // over that span, so a short extrapolation is as good as a third encode.
            if points.count >= 2, points.allSatisfy({ abs(log2(Double($0.bytes) / target)) < log2(maximumExtrapolation) }) { break }
            let next = min(51, max(0, factor + QualityReference.qpStepsPerDoubling * error))
            if next == factor { break }
            factor = next
        }
        let sorted = points.sorted { abs(log(Double($0.bytes) / target)) < abs(log(Double($1.bytes) / target)) }
        let below = points.filter { Double($0.bytes) <= target }.max { $0.bytes < $1.bytes }
        let above = points.filter { Double($0.bytes) >= target }.min { $0.bytes < $1.bytes }
        let pair: (a: (bytes: Int, psnr: Double, factor: Double), b: (bytes: Int, psnr: Double, factor: Double))
        if let below, let above {
            guard above.bytes > below.bytes else { return (below.psnr, points.count, below.factor) }
            pair = (below, above)
        } else if sorted.count >= 2, sorted[0].bytes != sorted[1].bytes,
                  sorted[0...1].allSatisfy({ abs(log2(Double($0.bytes) / target)) < log2(maximumExtrapolation) }) {
            pair = (sorted[0], sorted[1])
        } else {
            return nil
        }
        let t = log(target / Double(pair.a.bytes)) / log(Double(pair.b.bytes) / Double(pair.a.bytes))
        return (pair.a.psnr + t * (pair.b.psnr - pair.a.psnr), points.count, pair.a.factor + t * (pair.b.factor - pair.a.factor))
    }

    /// Feeds `frames` to libx264 until its first packet (the keyframe) comes out, and returns that packet's
    /// slice bytes and decoded picture; the later frames only fill the lookahead and are never coded.
    static func firstPicture(_ frames: [Frame], options: [String: String], threads: Int) throws -> (bytes: Int, picture: YUVImage)? {
        let (packets, pictures) = try QualityReference.encodeX264(frames, options: options, threads: threads, frameRate: Rational(num: 30, den: 1),
                                                                  decode: true, firstPacketOnly: true)
        guard let packet = packets.first, let picture = pictures.first else { return nil }
        return (H264SliceBytes.count(packet.data), picture)
    }
}
