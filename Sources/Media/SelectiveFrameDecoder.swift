import CFFmpeg
import Foundation

/// Decodes only chosen frames of a file's main video stream: it seeks to the keyframe before each wanted
/// frame when that skips work, decodes forward to it, and hands back the frames asked for.
public final class SelectiveFrameDecoder {
    public let path: String
    public let threads: Int
    private var reader: VideoFrameReader
    public var stream: StreamInfo { reader.stream }
    /// pts of the last frame handed out by the decoder, nil right after opening or seeking.
    private var position: Int64?
    /// Damage counted by readers replaced on reopening.
    private var earlierDecodeErrors = 0
    /// Packets or frames FFmpeg reported as damaged.
    public var decodeErrors: Int { earlierDecodeErrors + reader.decodeErrors }
    /// Frames decoded in total (wanted or not): the cost of the sampling.
    public private(set) var framesDecoded = 0
    public private(set) var seeks = 0
    /// Presentation timestamps wanted by the current `frames(at:)` call: every other packet may be skipped
    /// by the decoder when no later frame is predicted from it.
    private var wantedNow: Set<Int64> = []
    /// The last frames decoded, so a request that steps back a little (neighbours of the next batch of
    /// samples) is served without seeking back and decoding again.
    private var recent: [(pts: Int64, frame: Frame)] = []
    static let recentFrames = 12

    /// With `rewound` (the same file, left open by its packet index), decoding starts from there instead of a new open;
    /// later restarts open the file as usual.
    public init(path: String, threads: Int = 1, reusing rewound: ReusableDemuxer? = nil) throws {
        self.path = path
        self.threads = threads
        reader = try rewound.map { try VideoFrameReader(reusing: $0, threads: threads) } ?? VideoFrameReader(path: path, threads: threads)
        reader.unwantedPacket = { [unowned self] packet in self.unwanted(packet) }
    }

    /// A packet without a timestamp might be a wanted frame: it is decoded in full.
    private func unwanted(_ packet: Packet) -> Bool {
        packet.pts.map { !wantedNow.contains($0) } ?? false
    }

    /// Decodes the frames whose presentation timestamps are in `wanted` and returns them by pts.
    /// `keyframes` are the keyframe timestamps (from a `PacketIndex`), used to decide where seeking pays.
    public func frames(at wanted: [Int64], keyframes: [Int64]) throws -> [Int64: Frame] {
        var result: [Int64: Frame] = [:]
        let targets = Array(Set(wanted)).sorted()
        let keys = keyframes.sorted()
        wantedNow = Set(targets)
        defer { wantedNow = [] }
        for target in targets {
            if result[target] != nil { continue }
            if let kept = recent.first(where: { $0.pts == target }) {
                result[target] = kept.frame
                continue
            }
            let keyBefore = keys.last { $0 <= target }
            if let position, position >= target {
                try restart(at: keyBefore)
            } else if let keyBefore, reader.canSeekExactly, position.map({ $0 < keyBefore }) ?? (keyBefore > (keys.first ?? keyBefore)) {
                try restart(at: keyBefore)
            }
            while let frame = try nextFrame() {
                guard let pts = frame.pts else { continue }
                if targets.contains(pts), result[pts] == nil { result[pts] = frame }
                if pts >= target { break }
            }
        }
        return result
    }

    /// Seeks to the keyframe (or reopens at the start when seeking is not exact or overshoots).
    private func restart(at keyframe: Int64?) throws {
        position = nil
        if let keyframe, reader.canSeekExactly {
            do {
                try reader.seek(toKeyframeBefore: keyframe)
                seeks += 1
                return
            } catch is FFmpegError {}
        }
        earlierDecodeErrors += reader.decodeErrors
        reader = try VideoFrameReader(path: path, threads: threads)
        reader.unwantedPacket = { [unowned self] packet in self.unwanted(packet) }
    }

    private func nextFrame() throws -> Frame? {
        guard let frame = try reader.next() else { return nil }
        position = frame.pts
        framesDecoded += 1
        if let pts = frame.pts {
            recent.append((pts, frame))
            if recent.count > Self.recentFrames { recent.removeFirst() }
        }
        return frame
    }
}

/// Decodes the packets an `Encoder` produced, without a container: how a verifier sees its own reference encode.
public final class EncodedPacketDecoder {
    private let context: UnsafeMutablePointer<AVCodecContext>

    /// A decoder for `encoder`'s output, configured from its parameters.
    public init(for encoder: Encoder) throws {
        let parameters = try CodecParameters(encoder: encoder)
        guard let codec = avcodec_find_decoder(parameters.pointer.pointee.codec_id) else {
            throw MediaError.unsupportedCodec(path: "(reference encode)", codec: encoder.name)
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        try ffCheck(avcodec_parameters_to_context(context, parameters.pointer), "avcodec_parameters_to_context")
        context.pointee.pkt_timebase = encoder.timeBase.av
        context.pointee.thread_count = 1
        try ffCheck(avcodec_open2(context, codec, nil), "avcodec_open2(reference decoder)")
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&owned)
    }

    /// Sends `packet` (nil drains) and returns the frames that came out.
    public func decode(_ packet: Packet?) throws -> [Frame] {
        var frames: [Frame] = []
        while true {
            let sent = try ffStep(avcodec_send_packet(context, packet?.pointer), "avcodec_send_packet(reference)")
            while true {
                let frame = Frame()
                guard try ffStep(avcodec_receive_frame(context, frame.pointer), "avcodec_receive_frame(reference)") == .ok else { break }
                frames.append(frame)
            }
            if sent != .needsInput { return frames }
        }
    }
}
