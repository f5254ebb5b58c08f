/// Bit rates as people write them: `3000000`, `3000k`, `3M` (bits per second).
public enum Bitrate {
    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { throw TranscodeError.malformedBitrate(text) }
        var digits = trimmed
        var scale = 1.0
        switch last {
        case "k", "K": scale = 1_000; digits.removeLast()
        case "m", "M": scale = 1_000_000; digits.removeLast()
        default: break
        }
        guard let value = Double(digits), value.isFinite, value > 0, !digits.contains("e"), !digits.contains("E") else {
            throw TranscodeError.malformedBitrate(text)
        }
        let bits = value * scale
        guard bits >= 10_000, bits <= 1_000_000_000 else { throw TranscodeError.malformedBitrate(text) }
        return Int(bits.rounded())
    }

    /// `3000k`-style text for people.
    public static func format(_ bits: Int) -> String {
        bits % 1_000_000 == 0 ? "\(bits / 1_000_000)M" : bits % 1000 == 0 ? "\(bits / 1000)k" : "\(bits)"
    }
}

import Foundation

/// One rung of an adaptive-bitrate ladder: a height and the bit rate to encode it at.
public struct LadderRung: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let height: Int
    public let bitrate: Int

    /// Taller than 8K has no use in a ladder and is a sign of a typo.
    public static let maximumHeight = 4320
    public static let minimumHeight = 64

    public init(height: Int, bitrate: Int) {
        self.height = height
        self.bitrate = bitrate
    }

    /// The rung's name: the folder and label, `720p`.
    public var name: String { "\(height)p" }
    public var description: String { "\(name)@\(Bitrate.format(bitrate))" }

    /// Width for a source of the given size: the source's aspect, rounded to even.
    public func width(forSourceWidth sourceWidth: Int, sourceHeight: Int) -> Int {
        let exact = Double(sourceWidth) * Double(height) / Double(sourceHeight)
        return max(2, Int((exact / 2).rounded()) * 2)
    }

    /// Parses `720p` or `720p@3000k`.
    public static func parse(_ text: String) throws -> LadderRung {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, let heightText = parts.first, heightText.hasSuffix("p") || heightText.hasSuffix("P") else {
            throw TranscodeError.malformedRung(text, reason: "expected a height such as 720p")
        }
        guard let height = Int(heightText.dropLast()), !heightText.dropLast().contains("+") else {
            throw TranscodeError.malformedRung(text, reason: "'\(heightText)' is not a number of lines")
        }
        guard height >= minimumHeight, height <= maximumHeight else {
            throw TranscodeError.malformedRung(text, reason: "height must be between \(minimumHeight) and \(maximumHeight)")
        }
        guard height % 2 == 0 else { throw TranscodeError.malformedRung(text, reason: "height must be even") }
        let bitrate: Int
        if parts.count == 2 {
            do { bitrate = try Bitrate.parse(parts[1]) } catch {
                throw TranscodeError.malformedRung(text, reason: "'\(parts[1])' is not a bitrate")
            }
        } else {
            bitrate = Ladder.defaultBitrate(forHeight: height)
        }
        return LadderRung(height: height, bitrate: bitrate)
    }
}

/// Ladders: parsing `--ladder` and deriving the default ladder from a source.
public enum Ladder {
    /// The default rungs (DESIGN.md), tallest first.
    public static let standardRungs: [LadderRung] = [
        LadderRung(height: 1080, bitrate: 5_000_000),
        LadderRung(height: 720, bitrate: 3_000_000),
        LadderRung(height: 480, bitrate: 1_600_000),
        LadderRung(height: 360, bitrate: 800_000),
        LadderRung(height: 240, bitrate: 250_000),
    ]

    /// Anchors for heights off the standard list, interpolated by pixel count between neighbours.
    static let bitrateAnchors: [(height: Int, bitrate: Int)] = [
        (144, 120_000), (240, 250_000), (360, 800_000), (480, 1_600_000), (720, 3_000_000),
        (1080, 5_000_000), (1440, 9_000_000), (2160, 16_000_000), (4320, 50_000_000),
    ]

    /// The bit rate a rung gets when the user names only its height.
    public static func defaultBitrate(forHeight height: Int) -> Int {
        if let exact = bitrateAnchors.first(where: { $0.height == height }) { return exact.bitrate }
        let lower = bitrateAnchors.last { $0.height < height } ?? bitrateAnchors[0]
        let upper = bitrateAnchors.first { $0.height > height } ?? bitrateAnchors[bitrateAnchors.count - 1]
        if lower.height == upper.height { return lower.bitrate * height * height / (lower.height * lower.height) }
        let fraction = Double(height * height - lower.height * lower.height) / Double(upper.height * upper.height - lower.height * lower.height)
        let bits = Double(lower.bitrate) + fraction * Double(upper.bitrate - lower.bitrate)
        return Int((bits / 1000).rounded()) * 1000
    }

    /// Parses `720p@3000k,480p,360p`; rungs keep the order given, duplicates are refused.
    public static func parse(_ text: String) throws -> [LadderRung] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, !items.allSatisfy(\.isEmpty) else { throw TranscodeError.emptyLadder(text) }
        var rungs: [LadderRung] = []
        for item in items {
            guard !item.isEmpty else { throw TranscodeError.malformedRung(text, reason: "empty rung") }
            let rung = try LadderRung.parse(item)
            if rungs.contains(where: { $0.height == rung.height }) {
                throw TranscodeError.malformedRung(item, reason: "\(rung.name) appears twice")
            }
            rungs.append(rung)
        }
        return rungs
    }

    /// The default ladder for a source: the standard rungs no taller than it, or its own height when it is
    /// shorter than all of them.
    public static func defaultLadder(sourceHeight: Int) -> [LadderRung] {
        let fitting = standardRungs.filter { $0.height <= sourceHeight }
        if !fitting.isEmpty { return fitting }
        let height = max(LadderRung.minimumHeight, sourceHeight / 2 * 2)
        return [LadderRung(height: height, bitrate: defaultBitrate(forHeight: height))]
    }
}
