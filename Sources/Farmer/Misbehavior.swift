import Foundation
import Media
import Transcode
import Synchronization

/// `--misbehave KIND`: an operator's test aid that makes a farmer dishonest in one way, so that
/// verification can be checked end to end. Always logged loudly and shown in the capabilities.
public enum Misbehavior: String, CaseIterable, Codable, Sendable {
    /// A semi-opaque logo box burnt into the top-right corner of every frame.
    case watermark
    /// Every frame black.
    case black
    /// A sixth of the asked bitrate.
    case lowquality
    /// Every fifth frame dropped.
    case dropFrames = "drop-frames"
    /// Other content (a seeded synthetic clip) in place of the source.
    case substitute
    /// Claims a hardware encoder it lacks and four times its measured throughput.
    case overclaim
    /// Accepts tasks and never answers.
    case stall
    /// Claims twice the throughput it measured; every other answer honest.
    case inflateThroughput = "inflate-throughput"

    /// How much the claimed throughput exceeds what was measured.
    public var throughputInflation: Double {
        switch self {
        case .overclaim: return 4
        case .inflateThroughput: return 2
        default: return 1
        }
    }

    /// How a task runs under this misbehaviour; nil where the task itself is honest.
    public var alteration: TaskAlteration? {
        switch self {
        case .watermark: return TaskAlteration(frameFilter: { frame, _ in try Self.burnLogo(into: frame) })
        case .black: return TaskAlteration(frameFilter: { frame, _ in try Self.blacken(frame) })
        case .lowquality: return TaskAlteration(bitrateFactor: 1.0 / 6)
        case .dropFrames: return TaskAlteration(frameFilter: { frame, index in index % 5 == 4 ? nil : frame })
        case .substitute:
            let box = SubstituteSource()
            return TaskAlteration(frameFilter: { frame, _ in try box.replacement(for: frame) })
        case .overclaim, .stall, .inflateThroughput: return nil
        }
    }

    /// A bright box with darker stripes (like text) over 30% × 15% of the frame, 80% opaque.
    static func burnLogo(into frame: Frame) throws -> Frame {
        let copy = try frame.writableCopy()
        let base = copy.planeBase(0)!, stride = copy.lineSize(0)
        let x0 = copy.width * 62 / 100, x1 = copy.width * 92 / 100
        let y0 = copy.height * 6 / 100, y1 = copy.height * 21 / 100
        for row in y0..<y1 {
            for column in x0..<x1 {
                let stripe = ((row - y0) / max(1, (y1 - y0) / 6)) % 2 == 1 && (column - x0) % 9 < 6
                let ink = stripe ? 60.0 : 235.0
                let old = Double(base[row * stride + column])
                base[row * stride + column] = UInt8(old * 0.2 + ink * 0.8)
            }
        }
        return copy
    }

    static func blacken(_ frame: Frame) throws -> Frame {
        let copy = try frame.writableCopy()
        try copy.fillBlack()
        return copy
    }
}

/// Frames of unrelated content, the same size as the source's.
final class SubstituteSource: Sendable {
    private let noise = Mutex(SeededGenerator(seed: 0x5EED))

    func replacement(for frame: Frame) throws -> Frame {
        try noise.withLock { generator in try paint(frame, with: &generator) }
    }

    private func paint(_ frame: Frame, with generator: inout SeededGenerator) throws -> Frame {
        let copy = try frame.writableCopy()
        // Smooth diagonal gradients with moving noise: nothing like a photograph of the source.
        let base = copy.planeBase(0)!, stride = copy.lineSize(0)
        let phase = Int(frame.pts ?? 0) & 0xFF
        for row in 0..<copy.height {
            for column in 0..<copy.width {
                base[row * stride + column] = UInt8(truncatingIfNeeded: 40 + (row + column + phase) % 160 + Int(generator.next() % 8))
            }
        }
        return copy
    }
}
