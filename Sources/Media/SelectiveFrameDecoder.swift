import CFFmpeg
import Foundation

/// Decodes only chosen frames of a file's main video stream: it seeks to the keyframe before each wanted
/// frame when that skips work, decodes forward to it, and hands back the frames asked for.
public final class SelectiveFrameDecoder {
    public let path: String
    public let threads: Int
    private var demuxer: Demuxer
    private var decoder: Decoder
    public private(set) var stream: StreamInfo
    private let packet = Packet()
    private var finished = false
    private var draining = false
    /// pts of the last frame handed out by the decoder, nil right after opening or seeking.
    private var position: Int64?
    /// Packets or frames FFmpeg reported as damaged.
    public private(set) var decodeErrors = 0
    /// Frames decoded in total (wanted or not): the cost of the sampling.
    public private(set) var framesDecoded = 0
    /// Packets of unwanted frames that nothing refers to, handed to the decoder to be skipped.
    public private(set) var packetsSkippable = 0
    /// Presentation timestamps wanted by the current `frames(at:)` call: every other packet may be skipped
    /// by the decoder when no later frame is predicted from it.
    private var wantedNow: Set<Int64> = []
    public private(set) var seeks = 0
    /// The last frames decoded, so a request that steps back a little (neighbours of the next batch of
    /// samples) is served without seeking back and decoding again.
    private var recent: [(pts: Int64, frame: Frame)] = []
    static let recentFrames = 12

    /// Containers whose keyframe seeking lands exactly (an index of samples); others are decoded forward.
    static let exactSeekFormats = ["mov", "mp4", "matroska", "webm"]

    public init(path: String, threads: Int = 1) throws {
        self.path = path
        self.threads = threads
        (demuxer, decoder, stream) = try Self.open(path, threads: threads)
    }

    private static func open(_ path: String, threads: Int) throws -> (Demuxer, Decoder, StreamInfo) {
        let demuxer = try Demuxer(path: path)
        guard let video = demuxer.bestVideoStream() else { throw MediaError.noVideoStream(path: path) }
        guard video.width > 0, video.height > 0 else { throw MediaError.unsupportedCodec(path: path, codec: video.codecName) }
        if video.width > MediaLimits.maximumDimension || video.height > MediaLimits.maximumDimension {
            throw MediaError.tooLarge(path: path, width: video.width, height: video.height, limit: MediaLimits.maximumDimension)
        }
        return (demuxer, try Decoder(demuxer: demuxer, stream: video, threads: threads), video)
    }

    private var canSeekExactly: Bool {
        let names = demuxer.formatName.split(separator: ",").map(String.init)
        return names.contains { Self.exactSeekFormats.contains($0) }
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
            } else if let keyBefore, canSeekExactly, position.map({ $0 < keyBefore }) ?? (keyBefore > (keys.first ?? keyBefore)) {
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
        if let keyframe, canSeekExactly {
            do {
                try demuxer.seek(stream: stream.index, toKeyframeBefore: keyframe)
                decoder.flushBuffers()
                finished = false
                draining = false
                position = nil
                seeks += 1
                return
            } catch is FFmpegError {}
        }
        (demuxer, decoder, stream) = try Self.open(path, threads: threads)
        finished = false
        draining = false
        position = nil
    }

    private func nextFrame() throws -> Frame? {
        let frame = Frame()
        while !finished {
            let step: CodecStep
            do { step = try decoder.receive(into: frame) } catch let error as FFmpegError where error.isInvalidData {
                decodeErrors += 1
                continue
            }
            switch step {
            case .ok:
                if frame.pts == nil { frame.pts = frame.bestEffortTimestamp }
                position = frame.pts
                framesDecoded += 1
                if let pts = frame.pts {
                    recent.append((pts, frame))
                    if recent.count > Self.recentFrames { recent.removeFirst() }
                }
                return frame
            case .endOfStream:
                finished = true
            case .needsInput:
                if draining { finished = true; break }
                try feed()
            }
        }
        return nil
    }

    private func feed() throws {
        while true {
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch is FFmpegError {
                decodeErrors += 1
                more = false
            }
            if !more {
                draining = true
                _ = try decoder.send(nil)
                return
            }
            guard packet.streamIndex == stream.index else { continue }
            // A packet without a timestamp might be a wanted frame: decode it in full.
            let skippable = packet.pts.map { !wantedNow.contains($0) } ?? false
            if skippable { packetsSkippable += 1 }
            decoder.skipsUnreferencedFrames = skippable
            do { _ = try decoder.send(packet) } catch let error as FFmpegError where error.isInvalidData {
                decodeErrors += 1
                continue
            }
            return
        }
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
        context.pointee.pkt_timebase = encoder.timeBase
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
