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

    /// Settings an x264 preset or tune could have chosen, as far as they smooth texture: no noise reduction,
    /// deblocking offsets within the tunes' (-3 to +3), dead zones no wider than x264's defaults (21 inter, 11
    /// intra), adaptive quantisation no stronger than 1.5. A reference encode made with the farmer's text is only
    /// trusted to say how much texture an honest encode loses when the text stays within these.
    var isPlausibleForTexture: Bool {
        func values(_ key: String, _ separator: Character) -> [Double]? {
            options[key].map { $0.split(separator: separator).compactMap { Double($0) } }
        }
        if let nr = values("nr", " ")?.first, nr != 0 { return false }
        if let deblock = values("deblock", ":"), deblock.count == 3, deblock[0] != 0, deblock[1...].contains(where: { abs($0) > 3 }) { return false }
        if let deadzone = values("deadzone", ","), deadzone.count == 2, deadzone[0] > 21 || deadzone[1] > 11 { return false }
        if let aq = values("aq", ":"), aq.count == 2, aq[0] != 0, aq[1] > 1.5 { return false }
        return true
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
