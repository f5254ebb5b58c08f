import Foundation
import Media

/// How one segment's source travels to whoever encodes it.
public enum SegmentCarriage: String, Codable, Sendable {
    /// Exactly the source's own packets of the segment, from the keyframe it starts with.
    case packets
    /// The source's packets from the keyframe before the segment, with a window naming the frames to encode
    /// (the earlier ones only prime the decoder).
    case primed
    /// A high-quality (not lossless) re-encode of the segment's frames, when priming would cost more bytes.
    case mezzanine
}

/// Where a source is cut, decided from its packets alone (no decoding): at source keyframes when they come
/// at least every few seconds (as FFmpeg's HLS muxer cuts when copying), otherwise every `segmentSeconds`
/// with each segment primed from the keyframe before it, or sent as a mezzanine when that is smaller.
public struct CutPlan: Sendable {
    public struct Segment: Sendable {
        public let index: Int
        /// Presentation times [start, end) of the segment's frames, source time base.
        public let start: Int64
        public let end: Int64
        /// Decode-order packet range sent for it (packets and primed carriage).
        public let firstPacket: Int
        public let lastPacket: Int
        public let frames: Int
        /// Bytes of the segment's own packets, and of the whole range from the keyframe it decodes from.
        public let ownBytes: Int
        public let rangeBytes: Int
        public internal(set) var carriage: SegmentCarriage
    }

    public enum Cutting: String, Codable, Sendable {
        /// Segments start at source keyframes (durations vary with the source's GOPs).
        case keyframes
        /// Segments start every `segmentSeconds`, wherever the source's keyframes are.
        case nominal
    }

    public let cutting: Cutting
    public private(set) var segments: [Segment]
    public let timeBase: Rational
    /// Presentation time of the first frame, and the end of the last one (source time base).
    public let firstPTS: Int64
    public let endPTS: Int64
    public let videoBytes: Int
    public let keyframes: Int

    /// Longest keyframe interval, in seconds, for which segments are cut at source keyframes: twice the
    /// asked length, and never less than 3 s (a source with a keyframe every 3 s is cut at each one).
    public static func keyframeCutLimit(segmentSeconds: Double) -> Double { max(2 * segmentSeconds, 3) }

    /// What a mezzanine weighs against the source's own packets for the same frames. Measured: an x264 veryfast
    /// CRF 16 mezzanine of camera footage is 2.5–4× (benchmarks/RESULTS.md, farm section); a segment whose primed
    /// range is larger than this many times its own bytes is smaller sent as a mezzanine.
    public static let mezzanineByteRatio = 3.0
    /// Bytes a job may send, over the source's video bytes, before segments go out as mezzanines. Priming costs the
    /// submitter only uplink; a mezzanine costs it a decode and an encode — the work farming is meant to take
    /// away — so segments are primed while the job stays within this, and past it the segments that save the most
    /// bytes become mezzanines first.
    public static let jobByteBudget = 3.0

    /// Plans the cut from `packets` (decode order). Nil when the packets cannot be cut without decoding:
    /// missing or repeated timestamps, or a first packet that is not a keyframe.
    public static func make(packets: [SourcePacket], timeBase: Rational, segmentSeconds: Double) -> CutPlan? {
        guard let firstPacket = packets.first, firstPacket.isKeyFrame, timeBase.isPositive else { return nil }
        let seconds = timeBase.doubleValue
        let display = packets.indices.sorted { packets[$0].pts < packets[$1].pts }
        for position in display.indices.dropFirst() where packets[display[position]].pts == packets[display[position - 1]].pts { return nil }
        let firstPTS = packets[display[0]].pts
        let last = packets[display[display.count - 1]]
        let typicalDuration = display.count >= 2 ? max(1, (last.pts - firstPTS) / Int64(display.count - 1)) : 1
        let endPTS = last.pts + (last.duration > 0 ? last.duration : typicalDuration)
        let keyPTS = packets.filter(\.isKeyFrame).map(\.pts).sorted()
        guard let firstKey = keyPTS.first, firstKey <= firstPTS + typicalDuration * 4 else { return nil }

        var longest = Double(endPTS - keyPTS[keyPTS.count - 1]) * seconds
        for index in keyPTS.indices.dropFirst() { longest = max(longest, Double(keyPTS[index] - keyPTS[index - 1]) * seconds) }
        let cutting: Cutting = longest <= keyframeCutLimit(segmentSeconds: segmentSeconds) ? .keyframes : .nominal

        // Segment n starts at the first candidate at or after n × segmentSeconds (cumulative, so a long GOP
        // does not leave a run of short segments behind it).
        let candidates = cutting == .keyframes ? keyPTS : display.map { packets[$0].pts }
        var starts: [Int64] = [firstPTS]
        var next = 1
        for pts in candidates where pts > firstPTS {
            let relative = Double(pts - firstPTS) * seconds / segmentSeconds + 1e-6
            if relative >= Double(next) {
                starts.append(pts)
                next = Int(relative.rounded(.down)) + 1
            }
        }

        var segments: [Segment] = []
        var videoBytes = 0
        for packet in packets { videoBytes += packet.size }
        // Decode index of each packet and running byte totals, for ranges.
        var prefixBytes = [0]
        prefixBytes.reserveCapacity(packets.count + 1)
        for packet in packets { prefixBytes.append(prefixBytes[prefixBytes.count - 1] + packet.size) }
        var keyDecodeIndex: [Int64: Int] = [:]
        for (index, packet) in packets.enumerated() where packet.isKeyFrame { keyDecodeIndex[packet.pts] = keyDecodeIndex[packet.pts] ?? index }
        var cursor = 0
        for (index, start) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1] : endPTS
            var own = 0, frames = 0, lowest = Int.max, highest = -1
            while cursor < display.count, packets[display[cursor]].pts < end {
                let decodeIndex = display[cursor]
                own += packets[decodeIndex].size
                frames += 1
                lowest = min(lowest, decodeIndex)
                highest = max(highest, decodeIndex)
                cursor += 1
            }
            guard frames > 0 else { continue }
            guard let key = keyPTS.last(where: { $0 <= start }), let first = keyDecodeIndex[key], first <= lowest else { return nil }
            let range = prefixBytes[highest + 1] - prefixBytes[first]
            segments.append(Segment(index: segments.count, start: start, end: end, firstPacket: first, lastPacket: highest, frames: frames,
                                    ownBytes: own, rangeBytes: range, carriage: range == own ? .packets : .primed))
        }
        // Over the job's budget, the primed segments that a mezzanine would shrink the most go as mezzanines.
        var sent = Double(segments.reduce(0) { $0 + $1.rangeBytes })
        let budget = jobByteBudget * Double(videoBytes)
        let savings = segments.indices.filter { segments[$0].carriage == .primed }
            .map { ($0, Double(segments[$0].rangeBytes) - mezzanineByteRatio * Double(segments[$0].ownBytes)) }
            .filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        for (index, saving) in savings where sent > budget {
            segments[index].carriage = .mezzanine
            sent -= saving
        }
        return CutPlan(cutting: cutting, segments: segments, timeBase: timeBase, firstPTS: firstPTS, endPTS: endPTS, videoBytes: videoBytes,
                       keyframes: keyPTS.count)
    }

    /// The same cut with every segment sent as a mezzanine (decoded, turned upright, encoded again).
    func mezzaninesOnly() -> CutPlan {
        var plan = self
        for index in plan.segments.indices { plan.segments[index].carriage = .mezzanine }
        return plan
    }

    /// Bytes that leave for the encoders when every segment is sent as planned (mezzanines counted as written).
    public var packetBytesSent: Int { segments.filter { $0.carriage != .mezzanine }.reduce(0) { $0 + $1.rangeBytes } }
}

/// One video packet as the cutter sees it (decode order).
public struct SourcePacket: Sendable {
    public let pts: Int64
    public let isKeyFrame: Bool
    public let size: Int
    public let duration: Int64
}

/// One cut segment, written and ready to send.
public struct CutSegment: Sendable {
    public let plan: CutPlan.Segment
    /// The file that travels: the source's packets (NUT, source time base) or a mezzanine (MPEG-TS).
    public let path: String
    /// Which of its frames to encode, in the job's output timeline; nil: all of them.
    public let window: SegmentWindow?
    public let bytes: Int
}

/// Reads a source's video packets without decoding (pass 1: plan), then writes each segment's file (pass 2),
/// shifting timestamps onto the job's output timeline (first frame at `outputStart` ticks).
public final class SourceCutter {
    public let path: String
    public let stream: StreamInfo
    public private(set) var packets: [SourcePacket] = []
    /// Reading stopped on a damaged packet before the end of the file.
    public private(set) var endedEarly = false
    /// Video packets without any timestamp (such a source cannot be cut by packets).
    public private(set) var untimedPackets = 0

    /// Pass 1: indexes every video packet; `otherPacket` sees the packets of other streams (audio) as they pass.
    public init(path: String, demuxer: Demuxer, stream: StreamInfo, otherPacket: ((Packet) throws -> Void)?) throws {
        self.path = path
        self.stream = stream
        let packet = Packet()
        while true {
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch is FFmpegError {
                endedEarly = true
                more = false
            }
            if !more { break }
            guard packet.streamIndex == stream.index else {
                try otherPacket?(packet)
                continue
            }
            guard let pts = packet.pts ?? packet.dts else { untimedPackets += 1; continue }
            packets.append(SourcePacket(pts: pts, isKeyFrame: packet.isKeyFrame, size: packet.size, duration: packet.duration))
        }
    }

    /// The plan, or nil when this source must be decoded to be cut. A source shown turned (a display matrix) goes out
    /// as upright mezzanines: the turn travels beside the packets, in the container, not in them.
    public func plan(segmentSeconds: Double) -> CutPlan? {
        guard untimedPackets == 0 else { return nil }
        let plan = CutPlan.make(packets: packets, timeBase: stream.timeBase, segmentSeconds: segmentSeconds)
        return stream.rotation.quarterTurns == 0 ? plan : plan?.mezzaninesOnly()
    }

    /// Pass 2: writes every segment of `plan` into `folder` and hands each to `deliver` as soon as it is complete
    /// (packet segments in decode order, then mezzanines). `shift` moves source timestamps onto the output timeline.
    public func cut(_ plan: CutPlan, into folder: URL, shift: Int64, frameRate: Rational, deliver: (CutSegment) throws -> Void) throws {
        let sent = plan.segments.filter { $0.carriage != .mezzanine }
        if !sent.isEmpty { try writePacketSegments(sent, plan: plan, folder: folder, shift: shift, deliver: deliver) }
        let mezzanines = plan.segments.filter { $0.carriage == .mezzanine }
        if !mezzanines.isEmpty { try writeMezzanines(mezzanines, folder: folder, shift: shift, frameRate: frameRate, deliver: deliver) }
    }

    static func file(for segment: CutPlan.Segment, in folder: URL) throws -> String {
        let directory = folder.appendingPathComponent(String(format: "task_%05d", segment.index))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("source.media").path
    }

    private func window(for segment: CutPlan.Segment, shift: Int64) -> SegmentWindow? {
        segment.carriage == .packets ? nil : SegmentWindow(start: segment.start + shift, end: segment.end + shift, timeBase: stream.timeBase)
    }

    private func writePacketSegments(_ segments: [CutPlan.Segment], plan: CutPlan, folder: URL, shift: Int64,
                                     deliver: (CutSegment) throws -> Void) throws {
        let demuxer = try Demuxer(path: path)
        var open: [(segment: CutPlan.Segment, muxer: Muxer, stream: Int, path: String)] = []
        var nextToOpen = 0
        var decodeIndex = -1
        let packet = Packet()
        while nextToOpen < segments.count || !open.isEmpty {
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch is FFmpegError { more = false }
            guard more else { throw TranscodeError.badTask("\(path) changed or ended while being cut (packet \(decodeIndex + 1))") }
            guard packet.streamIndex == stream.index, packet.pts != nil || packet.dts != nil else { continue }
            decodeIndex += 1
            while nextToOpen < segments.count, segments[nextToOpen].firstPacket == decodeIndex {
                let segment = segments[nextToOpen]
                let file = try Self.file(for: segment, in: folder)
                let muxer = try Muxer(format: "nut")
                let index = try muxer.addStream(copying: stream, of: demuxer)
                try muxer.open(path: file)
                try muxer.writeHeader()
                open.append((segment, muxer, index, file))
                nextToOpen += 1
            }
            for entry in open {
                let copy = try packet.reference()
                if let pts = copy.pts { copy.pts = pts + shift }
                if let dts = copy.dts { copy.dts = dts + shift }
                try entry.muxer.write(copy, stream: entry.stream)
            }
            while let done = open.firstIndex(where: { $0.segment.lastPacket == decodeIndex }) {
                let entry = open.remove(at: done)
                try entry.muxer.finish()
                let bytes = ((try? FileManager.default.attributesOfItem(atPath: entry.path))?[.size] as? Int) ?? 0
                try deliver(CutSegment(plan: entry.segment, path: entry.path, window: window(for: entry.segment, shift: shift), bytes: bytes))
            }
        }
    }

    private func writeMezzanines(_ segments: [CutPlan.Segment], folder: URL, shift: Int64, frameRate: Rational,
                                 deliver: (CutSegment) throws -> Void) throws {
        let reader = try VideoFrameReader(path: path)
        let writer = MezzanineWriter(width: stream.width, height: stream.height, timeBase: stream.timeBase, frameRate: frameRate)
        var pending: Frame?
        for segment in segments {
            let file = try Self.file(for: segment, in: folder)
            // Frames come in presentation order; one read past the segment's end waits for the next segment.
            let written = try writer.write(to: file, frames: {
                while true {
                    guard let frame = try pending ?? reader.next() else { return nil }
                    pending = nil
                    guard let pts = frame.pts, pts >= segment.start else { continue }
                    if pts >= segment.end { pending = frame; return nil }
                    frame.pts = pts + shift
                    return frame
                }
            }, onFrame: {})
            guard written == segment.frames else {
                throw TranscodeError.badTask("segment \(segment.index) decoded to \(written) frames where its packets hold \(segment.frames)")
            }
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0
            try deliver(CutSegment(plan: segment, path: file, window: nil, bytes: bytes))
        }
    }
}
