import Foundation
import Media

/// A live stream's video decoded once, as it arrives, for segments made from decoded frames (encoded here, or a
/// mezzanine for a stream that must be turned upright): `prism transcode`'s decode-once approach, whatever the
/// keyframe interval, where a segment sent as packets decodes again from the keyframe before it. Frames wait here
/// until the segment they belong to is cut and the decoder is past its end.
final class LiveFrames {
    /// Most bytes of decoded pictures held (a hostile stream that never lets a segment be cut must not exhaust memory):
    /// 4 s of 1080p60 fits.
    static let maximumHeldBytes = 1536 << 20
    /// A cut whose end the decoder has not passed after this many more packets (timestamps out of order, damage) is
    /// handed out with the frames it has.
    static let patiencePackets = 32

    private let decoder: PacketFrameDecoder
    private var held: [Frame] = []
    private var heldBytes = 0
    private var pending: [(cut: LiveCut, packets: Int, ready: ([Frame]) -> Void)] = []
    /// Frames shown before this were handed out (or belong to no segment): later ones that come are dropped.
    private var floor = Int64.min
    private var highest = Int64.min
    /// Frames decoded after their segment was handed out, or let go over `maximumHeldBytes`.
    private(set) var dropped = 0
    private(set) var overflows = 0
    /// Frames the decoder gave.
    private(set) var decoded = 0
    /// Packets whose decoding failed outright (beyond damage FFmpeg conceals): their frames are missing.
    private var failures = 0
    var damage: Int { decoder.damage + failures }
    var deinterlaced: Bool { decoder.deinterlaced }

    init(demuxer: Demuxer, stream: StreamInfo) throws {
        decoder = try PacketFrameDecoder(demuxer: demuxer, stream: stream)
    }

    /// `ready` gets the cut's frames (presentation order, those shown in [start, end)) once they are all decoded.
    func want(_ cut: LiveCut, ready: @escaping ([Frame]) -> Void) {
        pending.append((cut, 0, ready))
        handOut(draining: false)
    }

    /// Decodes the next video packet of the stream.
    func decode(_ packet: Packet) {
        take(decoded(packet))
        for index in pending.indices { pending[index].packets += 1 }
        handOut(draining: false)
    }

    /// The input ended (or the period did): the decoder lets its last frames out and every cut still waiting gets its frames.
    func finish() {
        take(decoded(nil))
        handOut(draining: true)
        held = []
        heldBytes = 0
    }

    private func decoded(_ packet: Packet?) -> [Frame] {
        do { return try decoder.decode(packet) } catch {
            failures += 1
            return []
        }
    }

    /// About what a decoded 4:2:0 picture holds.
    private static func bytes(of frame: Frame) -> Int { frame.width * frame.height * 3 / 2 }

    private func take(_ frames: [Frame]) {
        decoded += frames.count
        for frame in frames {
            guard let pts = frame.pts, pts >= floor else { dropped += 1; continue }
            // The decoder gives presentation order; a stream whose timestamps disagree is put in order here.
            let place = held.lastIndex { $0.pts! <= pts }.map { $0 + 1 } ?? 0
            held.insert(frame, at: place)
            heldBytes += Self.bytes(of: frame)
            highest = max(highest, pts)
        }
        if heldBytes > LiveFrames.maximumHeldBytes {
            overflows += 1
            let half = held.count / 2
            dropped += half
            heldBytes -= held.prefix(half).reduce(0) { $0 + Self.bytes(of: $1) }
            held.removeFirst(half)
        }
    }

    private func handOut(draining: Bool) {
        while let next = pending.first, draining || highest >= next.cut.end || next.packets > LiveFrames.patiencePackets {
            pending.removeFirst()
            // Held frames all have a timestamp (`take`), in order.
            let gone = held.prefix { $0.pts! < next.cut.end }
            let inside = gone.filter { $0.pts! >= next.cut.start }
            heldBytes -= gone.reduce(0) { $0 + Self.bytes(of: $1) }
            held.removeFirst(gone.count)
            floor = max(floor, next.cut.end)
            next.ready(inside)
        }
    }
}
