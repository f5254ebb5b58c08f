import CFFmpeg
import Foundation
import Media

/// x264's settings as it writes them into every stream it makes (an SEI "user data unregistered" message:
/// `x264 - core 164 … - options: cabac=1 ref=3 deblock=1:0:0 analyse=0x3:0x113 …`).
struct X264Settings: Equatable {
    let options: [String: String]

    /// Reads the settings from a packet's bytes (`EncoderMark`); nil when the packet carries no x264 SEI.
    init?(packet bytes: UnsafeBufferPointer<UInt8>) {
        guard let text = EncoderMark.x264Options(UnsafeRawBufferPointer(bytes)) else { return nil }
        self.init(text: text)
    }

    /// Parses the `key=value key=value` list after `options: `.
    init?(text: String) {
        var options: [String: String] = [:]
        for item in text.split(separator: " ") {
            let parts = item.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { options[String(parts[0])] = String(parts[1]) }
        }
        guard options["analyse"] != nil, options["subme"] != nil else { return nil }
        self.options = options
    }

    /// libavcodec options that make libx264 code an intra frame the way these settings did: the base preset
    /// fixes the intra partitions (none for `ultrafast`), and every setting that changes how an intra frame
    /// is coded and is written in the SEI is passed on. Nil for settings that cannot be reproduced (custom
    /// quantisation matrices, interlacing).
    var intraEncoderOptions: (options: [String: String], threads: Int)? { encoderOptions(lookahead: false) }

    /// The same with x264's macroblock-tree rate control as the rendition used it (lookahead length, B-frames,
    /// weighting, qcomp): mbtree lowers the QP of a keyframe's blocks that later frames refer to and raises the
    /// rest, which costs PSNR at equal size on a picture with still and moving parts (up to 0.8 dB measured).
    var lookaheadEncoderOptions: (options: [String: String], threads: Int)? {
        guard options["mbtree"] == "1", lookaheadFrames > 0 else { return nil }
        return encoderOptions(lookahead: true)
    }

    /// x264's `rc_lookahead`: how many frames after the keyframe its rate control looked at (x264's own cap is 250).
    var lookaheadFrames: Int { min(250, max(0, options["rc_lookahead"].flatMap { Int($0) } ?? 0)) }

    /// Sliced-thread encodes are reproduced with at most this many slices' threads (the text could ask for any number).
    static let maximumSlicedThreads = 16

    private func encoderOptions(lookahead: Bool) -> (options: [String: String], threads: Int)? {
        if let cqm = options["cqm"], cqm != "0" { return nil }
        if let interlaced = options["interlaced"], interlaced != "0" { return nil }
        let intraPartitions = options["analyse"]?.split(separator: ":").first.map(String.init) ?? "0"
        var params: [String] = []
        // The text comes from the farmer's stream: only plain numbers are passed on, so nothing in it can add
        // options of its own to the reference encode (`deadzone=21,11:qpmin=51` would otherwise).
        func numbers(_ key: String, separator: Character, count: Int) -> [String]? {
            guard let parts = options[key]?.split(separator: separator).map(String.init), parts.count == count,
                  parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { "0123456789.+-".contains($0) } }) else { return nil }
            return parts
        }
        func pass(_ key: String, as name: String? = nil) {
            if let value = numbers(key, separator: " ", count: 1)?[0] { params.append("\(name ?? key)=\(value)") }
        }
        if lookahead {
            params.append("mbtree=1")
            pass("rc_lookahead", as: "rc-lookahead"); pass("bframes"); pass("b_adapt", as: "b-adapt"); pass("b_pyramid", as: "b-pyramid")
            pass("weightp"); pass("qcomp"); pass("keyint"); pass("scenecut")
        } else {
            params.append("mbtree=0")
        }
        pass("cabac"); pass("subme"); pass("trellis"); pass("8x8dct"); pass("psy"); pass("nr")
        pass("decimate", as: "dct-decimate"); pass("constrained_intra", as: "constrained-intra")
        if let psyRD = numbers("psy_rd", separator: ":", count: 2) { params.append("psy-rd=\(psyRD[0]),\(psyRD[1])") }
        if let deblock = numbers("deblock", separator: ":", count: 3) {
            params.append(deblock[0] == "0" ? "no-deblock=1" : "deblock=\(deblock[1]),\(deblock[2])")
        }
        if let deadzone = numbers("deadzone", separator: ",", count: 2) {
            params.append("deadzone-inter=\(deadzone[0])")
            params.append("deadzone-intra=\(deadzone[1])")
        }
        if let aq = numbers("aq", separator: ":", count: 2) {
            params.append("aq-mode=\(aq[0])")
            params.append("aq-strength=\(aq[1])")
        } else if let aq = numbers("aq", separator: ":", count: 1) {
            params.append("aq-mode=\(aq[0])")
        }
        var threads = 1
        if options["sliced_threads"] == "1", let count = options["threads"].flatMap({ Int($0) }), count > 1 {
            params.append("sliced-threads=1")
            threads = min(count, Self.maximumSlicedThreads)
        }
        let preset = intraPartitions == "0" || intraPartitions == "0x0" ? "ultrafast" : "superfast"
        return (["preset": preset, "x264-params": params.joined(separator: ":")], threads)
    }
}

/// Bytes of coded picture data in an H.264 access unit: the slice NAL units only, so that parameter sets, SEI
/// messages (x264's settings text is several hundred bytes) and delimiters, which differ between containers
/// and encoder runs, do not count. Reads Annex B (start codes: MPEG-TS, raw streams, libx264's own output) and
/// the length-prefixed form of MP4 (4-byte lengths).
enum H264SliceBytes {
    static func count(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        let n = bytes.count
        func isSlice(_ header: UInt8) -> Bool { let type = header & 0x1F; return type >= 1 && type <= 5 }
        if n >= 4, bytes[0] == 0, bytes[1] == 0, bytes[2] == 1 || (bytes[2] == 0 && bytes[3] == 1) {
            var starts: [(header: Int, start: Int)] = []   // (index of NAL header, index of its start code)
            var i = 0
            while i + 2 < n {
                if bytes[i] == 0, bytes[i + 1] == 0, bytes[i + 2] == 1 {
                    let codeStart = i > 0 && bytes[i - 1] == 0 ? i - 1 : i
                    starts.append((i + 3, codeStart))
                    i += 3
                } else {
                    i += 1
                }
            }
            var total = 0
            for (k, unit) in starts.enumerated() where unit.header < n && isSlice(bytes[unit.header]) {
                total += (k + 1 < starts.count ? starts[k + 1].start : n) - unit.header
            }
            return total
        }
        var total = 0, i = 0
        while i + 4 <= n {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length > 0, i + 4 + length <= n else { return total > 0 ? total : n }
            if isSlice(bytes[i + 4]) { total += length }
            i += 4 + length
        }
        return total > 0 ? total : n
    }
}

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
        let frame = try Scaler(width: width, height: height, format: AV_PIX_FMT_YUV420P, algorithm: algorithm).scale(source)
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
        let (packets, pictures) = try QualityReference.encodeX264(frames, options: options, threads: threads, frameRate: AVRational(num: 30, den: 1),
                                                                  decode: true, firstPacketOnly: true)
        guard let packet = packets.first, let picture = pictures.first else { return nil }
        return (H264SliceBytes.count(packet.data), picture)
    }
}
