import Foundation

/// Why a peer's message was refused where it entered: a number not finite or out of range, a string or list
/// too long. Peers are hostile until their values are checked; nothing outside these bounds is stored or used.
public struct MessageLimitError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The ranges every Wire message's values must fall in. Generous for any real farm, small enough that no
/// rendering, sum or conversion of a stored value can overflow or trap.
public enum MessageLimits {
    /// 720p frames per second: a rack of GPUs does a few thousand.
    public static let framesPerSecond: ClosedRange<Double> = 0...1_000_000
    public static let sessions: ClosedRange<Int> = 0...4096
    /// Bits per second each way: 1 Tbit/s.
    public static let bitsPerSecond: ClosedRange<Double> = 0...1e12
    public static let encoders = 64
    public static let nameLength = 64
    public static let urlLength = 2048
    public static let findings = 64
    public static let textLength = 1024
    public static let reasons = 32
    /// Ladder rungs of a task: sizes and bitrates an encoder can be asked for.
    public static let rungs: ClosedRange<Int> = 1...12
    public static let rungHeight: ClosedRange<Int> = 64...4320
    public static let rungWidth: ClosedRange<Int> = 64...7680
    public static let rungBitrate: ClosedRange<Int> = 10_000...500_000_000
    public static let options = 16
    /// Frames of one rung in a receipt: 100 s at 1,000 frames per second.
    public static let receiptFrames: ClosedRange<Int> = 0...100_000

    static func number(_ value: Double, in range: ClosedRange<Double>, _ name: String) throws {
        guard value.isFinite, range.contains(value) else {
            throw MessageLimitError("\(name) must be a finite number from \(Self.figure(range.lowerBound)) to \(Self.figure(range.upperBound)), not \(value)")
        }
    }

    static func number(_ value: Int, in range: ClosedRange<Int>, _ name: String) throws {
        guard range.contains(value) else { throw MessageLimitError("\(name) must be from \(range.lowerBound) to \(range.upperBound), not \(value)") }
    }

    static func text(_ value: String, max: Int, _ name: String) throws {
        guard value.utf8.count <= max else { throw MessageLimitError("\(name) is longer than \(max) bytes") }
    }

    static func names(_ values: [String], _ name: String) throws {
        guard values.count <= encoders else { throw MessageLimitError("\(name) lists more than \(encoders) entries") }
        for value in values {
            guard !value.isEmpty, value.utf8.count <= nameLength,
                  value.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0)) }) else {
                throw MessageLimitError("\(name) entries must be 1 to \(nameLength) letters, digits, '_', '-' or '.'")
            }
        }
    }

    static func texts(_ values: [String], count: Int, length: Int, _ name: String) throws {
        guard values.count <= count else { throw MessageLimitError("\(name) lists more than \(count) entries") }
        for value in values { try text(value, max: length, name) }
    }

    private static func figure(_ value: Double) -> String { value >= 1e6 ? String(format: "%.0e", value) : String(format: "%g", value) }
}

extension FarmerCapabilities {
    /// Throws `MessageLimitError` for a value outside `MessageLimits`.
    public func validate() throws {
        try MessageLimits.names(encoders, "encoders")
        try MessageLimits.number(framesPerSecond, in: MessageLimits.framesPerSecond, "framesPerSecond")
        try MessageLimits.number(sessions, in: MessageLimits.sessions, "sessions")
        try price.validate()
        try MessageLimits.text(version, max: MessageLimits.nameLength, "version")
        if let jobs {
            try MessageLimits.names(jobs.modes, "jobs.modes")
            try jobs.limits.validate()
            if let unavailable = jobs.unavailable {
                try MessageLimits.names(Array(unavailable.keys), "jobs.unavailable")
                try MessageLimits.texts(Array(unavailable.values), count: MessageLimits.findings, length: MessageLimits.textLength, "jobs.unavailable")
            }
        }
    }
}

extension FarmerAnnouncement {
    public func validate() throws {
        try MessageLimits.text(url, max: MessageLimits.urlLength, "url")
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              parsed.host?.isEmpty == false else {
            throw MessageLimitError("url must be an http(s) URL with a host")
        }
        try capabilities.validate()
        if let misbehave { try MessageLimits.text(misbehave, max: MessageLimits.nameLength, "misbehave") }
    }
}

extension CapabilityFigures {
    public func validate(_ name: String) throws {
        if let encoders { try MessageLimits.names(encoders, "\(name).encoders") }
        if let framesPerSecond { try MessageLimits.number(framesPerSecond, in: MessageLimits.framesPerSecond, "\(name).framesPerSecond") }
        if let sessions { try MessageLimits.number(sessions, in: MessageLimits.sessions, "\(name).sessions") }
        if let uploadBitsPerSecond { try MessageLimits.number(uploadBitsPerSecond, in: MessageLimits.bitsPerSecond, "\(name).uploadBitsPerSecond") }
        if let downloadBitsPerSecond { try MessageLimits.number(downloadBitsPerSecond, in: MessageLimits.bitsPerSecond, "\(name).downloadBitsPerSecond") }
    }
}

extension ChallengeResult {
    public func validate() throws {
        try claimed.validate("claimed")
        try measured.validate("measured")
        try MessageLimits.texts(findings, count: MessageLimits.findings, length: MessageLimits.textLength, "findings")
    }
}

extension Verdict {
    public func validate() throws {
        try MessageLimits.texts(reasons, count: MessageLimits.reasons, length: MessageLimits.nameLength, "reasons")
        if let receipt { try MessageLimits.receiptSize(receipt) }
    }
}

extension MessageLimits {
    /// A receipt names at most 12 rungs: a few kilobytes.
    static let receiptBytes = 16 * 1024
    static func receiptSize(_ receipt: SignedEnvelope) throws {
        guard receipt.body.count <= receiptBytes else { throw MessageLimitError("receipt is larger than \(receiptBytes) bytes") }
    }
}

extension SegmentTask {
    /// Checks what a farmer needs before it stores a byte of the source: rung sizes and bitrates an encoder can be
    /// asked for, short names, a well-formed frame window.
    public func validate() throws {
        try MessageLimits.number(ladder.count, in: MessageLimits.rungs, "ladder rungs")
        for rung in ladder {
            try MessageLimits.number(rung.height, in: MessageLimits.rungHeight, "rung height")
            guard rung.height % 2 == 0 else { throw MessageLimitError("rung height \(rung.height) is odd") }
            if let width = rung.width {
                try MessageLimits.number(width, in: MessageLimits.rungWidth, "rung width")
                guard width % 2 == 0 else { throw MessageLimitError("rung width \(width) is odd") }
            }
            try MessageLimits.number(rung.bitrate, in: MessageLimits.rungBitrate, "rung bitrate")
        }
        try MessageLimits.text(codec, max: MessageLimits.nameLength, "codec")
        if let preset { try MessageLimits.text(preset, max: MessageLimits.nameLength, "preset") }
        try maxPrice?.validate("maxPrice")
        guard options.count <= MessageLimits.options else { throw MessageLimitError("more than \(MessageLimits.options) options") }
        for (key, value) in options {
            try MessageLimits.text(key, max: MessageLimits.nameLength, "option name")
            try MessageLimits.text(value, max: MessageLimits.textLength, "option value")
        }
        if let frameRate {
            guard frameRate.numerator > 0, frameRate.denominator > 0,
                  Double(frameRate.numerator) / Double(frameRate.denominator) <= 1000 else {
                throw MessageLimitError("the frame rate must be above 0 and at most 1000 frames per second")
            }
        }
        if let window {
            // The same bounds as `SegmentWindow.isValid`: start before end, a time base, far from Int64's ends.
            guard window.timeBaseNumerator > 0, window.timeBaseDenominator > 0, window.start < window.end,
                  window.start > Int64.min / 4, window.end < Int64.max / 4 else {
                throw MessageLimitError("the frame window is empty, out of range or has no time base")
            }
        }
    }
}
