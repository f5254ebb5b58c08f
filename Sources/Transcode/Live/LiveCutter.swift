import Foundation
import Media

/// One video packet of a live input as the live cutter sees it: its timestamps (source time base), whether it is a
/// keyframe, and when it arrived. `packet` is the data (nil in tests of the cutting rule alone).
public struct LivePacket: Sendable {
    public let pts: Int64
    public let dts: Int64
    public let isKeyFrame: Bool
    public let duration: Int64
    /// Seconds on the monotonic clock when it was read.
    public let arrival: Double
    public let packet: Packet?
    public let size: Int

    public init(pts: Int64, dts: Int64, isKeyFrame: Bool, duration: Int64, arrival: Double, packet: Packet? = nil, size: Int = 0) {
        self.pts = pts
        self.dts = dts
        self.isKeyFrame = isKeyFrame
        self.duration = duration
        self.arrival = arrival
        self.packet = packet
        self.size = packet?.size ?? size
    }
}

/// One segment cut from a live input, ready to be written and sent.
public struct LiveCut: Sendable {
    /// Decode-order packets to send: from the keyframe the segment decodes from through its last frame.
    public let packets: [LivePacket]
    /// Presentation times [start, end) of its frames, source time base.
    public let start: Int64
    public let end: Int64
    /// Frames to encode: the packets whose presentation time lies in [start, end).
    public let frames: Int
    /// Whether the packets hold frames outside [start, end) (priming frames from an earlier keyframe), so the task
    /// must name its window.
    public let needsWindow: Bool
    /// When its last frame arrived (monotonic seconds): where its latency is counted from.
    public let lastArrival: Double
}

/// Cuts a live stream's video packets into segments as they arrive, without decoding: at a source keyframe once the
/// segment is `segmentSeconds` long, as `prism submit` cuts a file whose keyframes come often enough. When no keyframe
/// has come for `CutPlan.keyframeCutLimit` seconds, it cuts every `segmentSeconds` instead, each segment sent from the
/// keyframe before it with the frames to encode named (primed, as `prism submit` sends such a file). A keyframe interval
/// longer than `maximumPrimeSeconds` is not buffered: the frames until the next keyframe are dropped and reported.
/// A stream decoded where it is read (`decodedHere`) is cut by time with each segment's own frames only, however long
/// its keyframe interval (an intra-refresh stream has one keyframe).
public struct LiveCutter {
    public enum Mode: String, Sendable { case keyframes, nominal }

    /// Longest run of packets held to prime a segment (seconds of decode time from its keyframe).
    public static let maximumPrimeSeconds = 20.0
    /// Most bytes held for one segment: a broadcaster sending huge packets must not exhaust memory (a 20 Mbit/s
    /// stream holds 50 MB over 20 s).
    public static let maximumHeldBytes = 256 << 20

    public let segmentTicks: Int64
    public let limitTicks: Int64
    public let primeTicks: Int64
    /// The stream is decoded where it is read (`LiveFrames`): a segment cut by time needs only its own frames, not the
    /// packets from the keyframe before it, so nothing is held for priming and no keyframe interval is too long.
    public let decodedHere: Bool
    public private(set) var mode: Mode = .keyframes
    /// Packets from the keyframe the current segment decodes from, in decode order.
    private var buffer: [LivePacket] = []
    /// Bytes of `buffer`, kept as it changes (every packet passes here).
    private var heldBytes = 0
    private var start: Int64?
    private var lastDTS: Int64?
    /// Frames dropped while waiting for a keyframe (at the start, or after an over-long keyframe interval).
    public private(set) var droppedWaitingForKeyframe = 0
    /// Frames that came after their segment was cut (an open GOP's leading frames): not in any segment.
    public private(set) var droppedLate = 0
    /// Times the held packets passed `maximumHeldBytes` and were let go.
    public private(set) var overflows = 0

    public init(segmentSeconds: Double, timeBaseSeconds: Double, decodedHere: Bool = false) {
        self.decodedHere = decodedHere
        let ticks = { (seconds: Double) in max(1, Int64((seconds / timeBaseSeconds).rounded())) }
        segmentTicks = ticks(segmentSeconds)
        limitTicks = ticks(CutPlan.keyframeCutLimit(segmentSeconds: segmentSeconds))
        primeTicks = ticks(LiveCutter.maximumPrimeSeconds)
    }

    /// Takes the next packet (decode order) and returns the segments it completes.
    public mutating func push(_ packet: LivePacket) -> [LiveCut] {
        defer { lastDTS = max(lastDTS ?? packet.dts, packet.dts) }
        guard let current = start, !buffer.isEmpty else {
            guard packet.isKeyFrame else { droppedWaitingForKeyframe += 1; return [] }
            start = packet.pts
            restart(with: packet)
            return []
        }
        if packet.pts < current && mode == .keyframes {
            // A frame shown before the segment it follows in decode order: its segment is already cut.
            droppedLate += 1
            return []
        }
        var cuts: [LiveCut] = []
        if mode == .keyframes {
            // Cut at a keyframe once the segment is long enough (half a frame early counts: 29.97 fps rounding).
            let halfFrame = max(1, (packet.duration > 0 ? packet.duration : 1) / 2)
            if packet.isKeyFrame && packet.pts - current >= segmentTicks - halfFrame {
                cuts.append(cut(buffer, start: current, end: packet.pts))
                restart(with: packet)
                start = packet.pts
                return cuts
            }
            if packet.dts - current < limitTicks {
                hold(packet)
                if heldBytes > LiveCutter.maximumHeldBytes { letGo() }
                return []
            }
            mode = .nominal
        }
        // Nominal: every frame shown before `start + segmentTicks` has arrived once a packet decodes at or after it.
        while let segmentStart = start, packet.dts >= segmentStart + segmentTicks {
            let end = segmentStart + segmentTicks
            if buffer.contains(where: { $0.pts >= segmentStart && $0.pts < end }) {
                cuts.append(cut(buffer, start: segmentStart, end: end))
            }
            start = end
            if decodedHere {
                // Only the next segments' own frames are kept.
                buffer.removeAll { $0.pts < end }
                heldBytes = buffer.reduce(0) { $0 + $1.size }
            } else if let key = buffer.lastIndex(where: { $0.isKeyFrame && $0.pts <= end }), key > 0 {
                // Keep only what the next segment decodes from: the last keyframe shown at or before its start.
                heldBytes -= buffer[..<key].reduce(0) { $0 + $1.size }
                buffer.removeFirst(key)
            }
        }
        if packet.isKeyFrame && packet.pts <= start! && !decodedHere { restart(with: packet) } else { hold(packet) }
        if let first = buffer.first, (packet.dts - first.dts > primeTicks && !decodedHere) || heldBytes > LiveCutter.maximumHeldBytes { letGo() }
        return cuts
    }

    /// No keyframe for too long, or too many bytes for one segment: hold nothing more; frames until the next keyframe
    /// are dropped (the stream goes on from there).
    private mutating func letGo() {
        if heldBytes > LiveCutter.maximumHeldBytes { overflows += 1 }
        droppedWaitingForKeyframe += buffer.count
        buffer = []
        heldBytes = 0
        start = nil
    }

    /// The input ended or broke: the frames held become the last segment (they end at the last frame's end).
    private mutating func hold(_ packet: LivePacket) {
        buffer.append(packet)
        heldBytes += packet.size
    }

    private mutating func restart(with packet: LivePacket) {
        buffer = [packet]
        heldBytes = packet.size
    }

    public mutating func flush() -> LiveCut? {
        defer { buffer = []; heldBytes = 0; start = nil }
        guard let current = start, !buffer.isEmpty else { return nil }
        let shown = buffer.filter { $0.pts >= current }
        guard let last = shown.max(by: { $0.pts < $1.pts }) else { return nil }
        let typical = shown.count >= 2 ? max(1, (last.pts - current) / Int64(shown.count - 1)) : segmentTicks
        let end = last.pts + (last.duration > 0 ? last.duration : typical)
        return cut(buffer, start: current, end: end)
    }

    private func cut(_ packets: [LivePacket], start: Int64, end: Int64) -> LiveCut {
        let inside = packets.filter { $0.pts >= start && $0.pts < end }
        return LiveCut(packets: packets, start: start, end: end, frames: inside.count, needsWindow: inside.count != packets.count,
                       lastArrival: inside.map(\.arrival).max() ?? packets.last?.arrival ?? 0)
    }
}
