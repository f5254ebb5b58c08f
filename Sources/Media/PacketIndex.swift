import CFFmpeg
import Foundation

/// The video packets of a file, read without decoding: enough to count frames, find keyframes, measure
/// bitrate and map presentation times, at the cost of a demux pass.
public struct PacketIndex: Sendable {
    /// One video packet (one coded frame for the codecs Prism handles).
    public struct Entry: Sendable {
        /// Presentation timestamp (stream time base); the decode timestamp when the container gives none.
        public let pts: Int64
        public let isKeyFrame: Bool
        public let size: Int
        public let duration: Int64
    }

    public let path: String
    public let stream: StreamInfo
    public let formatName: String
    /// Packets in presentation order.
    public let entries: [Entry]
    /// Whether the first packet in decode order is a keyframe (a segment must start with one to play alone).
    public let startsWithKeyFrame: Bool
    /// Packets whose timestamps were missing entirely (they cannot be placed in time).
    public let untimedPackets: Int
    /// The bytes of the first video packet in decode order when it is a keyframe (whatever the window): where an
    /// encoder writes its settings, kept so they are read without opening the file again.
    public let firstKeyFramePacket: [UInt8]?

    /// Reads every packet of the main video stream of `path` (only those presented inside `window`, when one
    /// is given: the frames a segment cut with decoder priming is made of). Throws `MediaError` for unreadable input.
    public init(path: String, window: SegmentWindow? = nil) throws {
        try self.init(path: path, window: window, demuxer: try Demuxer(path: path))
    }

    /// The same, and the file still open, rewound to its first packet: a decoder of the same file that starts there
    /// (`VideoFrameReader(reusing:)`) skips a second open, whose stream probing decodes the first frames again. Nil
    /// when the container will not rewind.
    public static func keepingOpen(path: String, window: SegmentWindow? = nil) throws -> (index: PacketIndex, rewound: ReusableDemuxer?) {
        let demuxer = try Demuxer(path: path)
        let index = try PacketIndex(path: path, window: window, demuxer: demuxer)
        return (index, demuxer.rewind() ? ReusableDemuxer(demuxer: demuxer, stream: index.stream) : nil)
    }

    private init(path: String, window: SegmentWindow?, demuxer: Demuxer) throws {
        guard let video = demuxer.bestVideoStream() else { throw MediaError.noVideoStream(path: path) }
        self.path = path
        stream = video
        formatName = demuxer.formatName
        let packet = Packet()
        var entries: [Entry] = []
        var first: Bool?
        var firstKeyFrame: [UInt8]?
        var untimed = 0
        while true {
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch is FFmpegError { more = false }
            if !more { break }
            guard packet.streamIndex == video.index else { continue }
            if first == nil {
                first = packet.isKeyFrame
                if packet.isKeyFrame { firstKeyFrame = Array(packet.data) }
            }
            guard let timestamp = packet.pts ?? packet.dts else { untimed += 1; continue }
            if let window, !window.contains(timestamp, in: video.timeBase) { continue }
            entries.append(Entry(pts: timestamp, isKeyFrame: packet.isKeyFrame, size: packet.size, duration: packet.duration))
        }
        entries.sort { $0.pts < $1.pts }
        self.entries = entries
        startsWithKeyFrame = first ?? false
        firstKeyFramePacket = firstKeyFrame
        untimedPackets = untimed
    }

    public var frameCount: Int { entries.count + untimedPackets }
    public var totalBytes: Int { entries.reduce(0) { $0 + $1.size } }
    public var timeBaseSeconds: Double { stream.timeBase.doubleValue }

    /// Seconds of one frame: the median packet spacing, else the stream's nominal rate.
    public var frameSeconds: Double {
        if entries.count >= 2 {
            var gaps: [Int64] = []
            gaps.reserveCapacity(entries.count - 1)
            for i in 1..<entries.count { gaps.append(entries[i].pts - entries[i - 1].pts) }
            gaps.sort()
            let median = gaps[gaps.count / 2]
            if median > 0 { return Double(median) * timeBaseSeconds }
        }
        return stream.frameRate > 0 ? 1 / stream.frameRate : 1.0 / 30
    }

    /// Presentation span of the packets: first to last timestamp plus one frame.
    public var durationSeconds: Double {
        guard let first = entries.first, let last = entries.last else { return 0 }
        return Double(last.pts - first.pts) * timeBaseSeconds + frameSeconds
    }

    /// Average video bitrate over the presentation span, bits per second.
    public var bitsPerSecond: Double {
        let seconds = durationSeconds
        return seconds > 0 ? Double(totalBytes * 8) / seconds : 0
    }

    /// Seconds from the first frame to frame `index` (presentation order).
    public func relativeSeconds(of index: Int) -> Double {
        Double(entries[index].pts - entries[0].pts) * timeBaseSeconds
    }

    /// The frame whose presentation time relative to the first frame is nearest `seconds`.
    public func nearestIndex(toRelativeSeconds seconds: Double) -> Int {
        guard !entries.isEmpty else { return 0 }
        let target = entries[0].pts + Int64((seconds / timeBaseSeconds).rounded())
        var low = 0, high = entries.count - 1
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].pts < target { low = mid + 1 } else { high = mid }
        }
        if low > 0 && abs(entries[low - 1].pts - target) <= abs(entries[low].pts - target) { return low - 1 }
        return low
    }
}

/// An opened file rewound to its first packet, and the video stream its packet index read: handed to one decoder
/// (`VideoFrameReader(reusing:)`), once.
public final class ReusableDemuxer {
    let path: String
    let stream: StreamInfo
    private var demuxer: Demuxer?
    init(demuxer: Demuxer, stream: StreamInfo) {
        path = demuxer.path
        self.demuxer = demuxer
        self.stream = stream
    }

    /// The demuxer, to the first caller only (a second would read on from where the first stopped).
    func take() -> Demuxer? {
        defer { demuxer = nil }
        return demuxer
    }
}
