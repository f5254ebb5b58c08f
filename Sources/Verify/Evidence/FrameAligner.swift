import Foundation
import Media

/// Maps rendition frames to source frames by presentation time relative to each stream's first frame
/// (HLS renditions start at 1.4 s, sources at 0: absolute timestamps mean nothing across the two).
public struct FrameAligner: Sendable {
    public let source: PacketIndex
    public let rendition: PacketIndex

    public init(source: PacketIndex, rendition: PacketIndex) {
        self.source = source
        self.rendition = rendition
    }

    /// The source frame shown at the same moment as rendition frame `index`.
    public func sourceIndex(forRendition index: Int) -> Int {
        source.nearestIndex(toRelativeSeconds: rendition.relativeSeconds(of: index))
    }

    /// Rendition frames whose packets are suspiciously small for what the source shows at that moment — the
    /// signature of frozen or black frames (coded as near-empty skips) — most suspicious first.
    public func packetSizeSuspects(limit: Int) -> [Int] {
        let renditionSizes = Self.normalisedSizes(rendition)
        let sourceSizes = Self.normalisedSizes(source)
        guard !renditionSizes.isEmpty, !sourceSizes.isEmpty else { return [] }
        var scored: [(index: Int, score: Double)] = []
        for index in renditionSizes.indices where !rendition.entries[index].isKeyFrame {
            let j = sourceIndex(forRendition: index)
            let around = (max(0, j - 1)...min(sourceSizes.count - 1, j + 1)).map { sourceSizes[$0] }
            let sourceSize = around.reduce(0, +) / Double(around.count)
            // A packet under 1/12 of its stream's typical size where the source's packets are ordinary.
            if renditionSizes[index] < 1.0 / 12 && sourceSize > 0.3 {
                scored.append((index, renditionSizes[index] / sourceSize))
            }
        }
        return scored.sorted { $0.score < $1.score }.prefix(limit).map(\.index)
    }

    /// Packet sizes divided by the median size of the stream's non-key packets.
    static func normalisedSizes(_ index: PacketIndex) -> [Double] {
        let predicted = index.entries.filter { !$0.isKeyFrame }.map { Double($0.size) }.sorted()
        let typical = predicted.isEmpty ? Double(index.entries.map(\.size).max() ?? 1) : predicted[predicted.count / 2]
        return index.entries.map { Double($0.size) / max(1, typical) }
    }
}

/// Sample positions: from the system CSPRNG so a farmer cannot know which frames will be looked at, or
/// from a seed when a run must be repeatable.
public struct SamplePicker {
    public static func pick(count: Int, from frameCount: Int, seed: UInt64?) -> [Int] {
        guard frameCount > 0 else { return [] }
        if count >= frameCount { return Array(0..<frameCount) }
        var chosen = Set<Int>()
        if let seed {
            var generator = SeededGenerator(seed: seed)
            while chosen.count < count { chosen.insert(Int.random(in: 0..<frameCount, using: &generator)) }
        } else {
            var generator = SystemRandomNumberGenerator()
            while chosen.count < count { chosen.insert(Int.random(in: 0..<frameCount, using: &generator)) }
        }
        return chosen.sorted()
    }
}

