import CFFmpeg

/// An opened decoder (`AVCodecContext`) for one stream.
public final class Decoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    public let timeBase: Rational

    /// Opens a decoder for `stream` of `demuxer`. `threads` 0 lets FFmpeg choose.
    public init(demuxer: Demuxer, stream: StreamInfo, threads: Int = 0) throws {
        let parameters = demuxer.codecParameters(of: stream.index)
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaError.unsupportedCodec(path: demuxer.path, codec: stream.codecName)
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        timeBase = stream.timeBase
        try ffCheck(avcodec_parameters_to_context(context, parameters), "avcodec_parameters_to_context")
        context.pointee.pkt_timebase = stream.timeBase.av
        context.pointee.thread_count = Int32(threads)
        _ = Decoder.countsLoggedErrors
        errorCount.initialize(to: 0)
        context.pointee.opaque = UnsafeMutableRawPointer(errorCount)
        let opened = avcodec_open2(context, codec, nil)
        if opened < 0 {
            throw MediaError.unsupportedCodec(path: demuxer.path, codec: "\(stream.codecName) (\(FFmpegError.text(for: opened)))")
        }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&owned)
        errorCount.deallocate()
    }

    /// Errors the decoder logged (see `cffmpeg_log_callback`): damage it met, whether or not it flagged a frame.
    private let errorCount = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    public var loggedErrors: Int { Int(cffmpeg_atomic_load(errorCount)) }
    /// The counting log callback, installed once for the process (it logs exactly as FFmpeg's default does).
    private static let countsLoggedErrors: Void = cffmpeg_install_log_callback()

    /// Sends a packet, or nil to start draining. `.needsInput` means: receive frames first, then resend.
    public func send(_ packet: Packet?) throws -> CodecStep {
        try ffStep(avcodec_send_packet(context, packet?.pointer), "avcodec_send_packet")
    }

    /// Receives the next frame into `frame`: `.ok`, `.needsInput` (send more) or `.endOfStream`.
    public func receive(into frame: Frame) throws -> CodecStep {
        try ffStep(avcodec_receive_frame(context, frame.pointer), "avcodec_receive_frame")
    }

    public func flushBuffers() { avcodec_flush_buffers(context) }

    /// `receive(into:)` as a reader wants it: damage is counted in `damage`, not thrown. FFmpeg conceals damage and hands
    /// the frame out anyway, so a caller can hold a source to its damage policy. A frame without a timestamp gets its
    /// best-effort one. Nil: the decoder reported invalid data (counted); call again.
    func receive(into frame: Frame, countingDamage damage: inout Int) throws -> CodecStep? {
        let step: CodecStep
        do { step = try receive(into: frame) } catch let error as FFmpegError where error.isInvalidData {
            damage += 1
            return nil
        }
        if step == .ok {
            if frame.isDamaged { damage += 1 }
            if frame.pts == nil { frame.pts = frame.bestEffortTimestamp }
        }
        return step
    }

    /// `send(_:)` counting a packet FFmpeg refuses as invalid data in `damage` instead of throwing.
    func send(_ packet: Packet?, countingDamage damage: inout Int) throws -> CodecStep {
        do { return try send(packet) } catch let error as FFmpegError where error.isInvalidData {
            damage += 1
            return .ok
        }
    }

    /// Whether the packets sent next may be skipped when no other frame refers to them (FFmpeg's
    /// `skip_frame = AVDISCARD_NONREF`, honoured by the H.264, HEVC and VP9 decoders): the frames that are
    /// decoded stay exact, because only pictures nothing predicts from are left out.
    public var skipsUnreferencedFrames: Bool {
        get { context.pointee.skip_frame == AVDISCARD_NONREF }
        set { context.pointee.skip_frame = newValue ? AVDISCARD_NONREF : AVDISCARD_DEFAULT }
    }
}

/// Decodes every frame of one video stream in presentation order, counting damage instead of stopping on it.
public final class VideoFrameReader {
    public let demuxer: Demuxer
    public let stream: StreamInfo
    let decoder: Decoder
    private let packet = Packet()
    private var draining = false
    private var finished = false
    /// Packets or frames FFmpeg reported as damaged while decoding.
    public private(set) var decodeErrors = 0
    /// Video packets read so far, key frames among them.
    public private(set) var packetsRead = 0
    public private(set) var keyPacketsRead = 0
    /// Damage met in all: `decodeErrors` plus what the decoder reported while concealing it (a frame-threaded
    /// decoder conceals a half picture without flagging the frame, so this is what sees a file cut mid-frame).
    /// What a transcode's damage policy is held to.
    public var damage: Int { decodeErrors + decoder.loggedErrors }
    /// Reading stopped on an error before the end of the file (typically a truncated file).
    public private(set) var endedEarly = false
    /// Optional hook for packets of other streams (e.g. audio), called as they are read.
    public var otherPacketHandler: ((Packet) throws -> Void)?
    /// Optional: whether a video packet's frame is unwanted, so the decoder may skip it when nothing refers to
    /// it (see `Decoder.skipsUnreferencedFrames`). Nil decodes everything.
    public var unwantedPacket: ((Packet) -> Bool)?
    /// Only frames inside this window are handed out; the others are decoded (they prime the decoder) and dropped.
    public let window: SegmentWindow?

    /// Opens `path` and its main video stream; throws `MediaError` for anything unusable.
    public convenience init(path: String, threads: Int = 0, window: SegmentWindow? = nil) throws {
        let demuxer = try Demuxer(path: path)
        guard let video = demuxer.bestVideoStream() else { throw MediaError.noVideoStream(path: path) }
        try self.init(demuxer: demuxer, video: video, threads: threads, window: window)
    }

    /// Decodes the file a packet index read (`PacketIndex.keepingOpen`) from its first packet, its stream as the index saw it.
    /// Handed on a second time, it opens the file again.
    public convenience init(reusing rewound: ReusableDemuxer, threads: Int = 0) throws {
        if let demuxer = rewound.take() {
            try self.init(demuxer: demuxer, video: rewound.stream, threads: threads, window: nil)
        } else {
            try self.init(path: rewound.path, threads: threads)
        }
    }

    private init(demuxer: Demuxer, video: StreamInfo, threads: Int, window: SegmentWindow?) throws {
        self.window = window
        self.demuxer = demuxer
        let path = demuxer.path
        guard video.width > 0, video.height > 0 else { throw MediaError.unsupportedCodec(path: path, codec: video.codecName) }
        if video.width > MediaLimits.maximumDimension || video.height > MediaLimits.maximumDimension {
            throw MediaError.tooLarge(path: path, width: video.width, height: video.height, limit: MediaLimits.maximumDimension)
        }
        stream = video
        decoder = try Decoder(demuxer: demuxer, stream: video, threads: threads)
        upright = UprightFrames(stream: video)
    }

    /// Containers whose keyframe seeking lands exactly (an index of samples).
    static let exactSeekFormats = ["mov", "mp4", "matroska", "webm"]

    /// Whether `seek(toKeyframeBefore:)` lands exactly on the keyframe asked for.
    public var canSeekExactly: Bool {
        demuxer.formatName.split(separator: ",").map(String.init).contains { Self.exactSeekFormats.contains($0) }
    }

    /// Seeks to the keyframe at or before `pts` and empties the decoder; the next frame comes from there.
    public func seek(toKeyframeBefore pts: Int64) throws {
        try demuxer.seek(stream: stream.index, toKeyframeBefore: pts)
        decoder.flushBuffers()
        upright.reset()
        ready = []
        decodedAll = false
        finished = false
        draining = false
    }

    /// Deinterlacing and the display rotation, applied to every decoded frame (`UprightFrames`).
    private let upright: UprightFrames
    /// Frames out of `upright` not yet handed out, and whether the decoder has given its last frame.
    private var ready: [Frame] = []
    private var decodedAll = false
    /// Frames flagged interlaced were met and deinterlaced (the ffmpeg CLI would encode them as they are, combed).
    public var deinterlaced: Bool { upright.deinterlaced }

    /// The next frame, upright and progressive, or nil at the end of the stream.
    public func next() throws -> Frame? {
        while ready.isEmpty {
            guard !decodedAll else { return nil }
            let decoded = try nextDecoded()
            if decoded == nil { decodedAll = true }
            ready = try upright.pass(decoded)
        }
        return ready.removeFirst()
    }

    /// The next decoded frame inside the window, as the decoder gives it, or nil at the end of the stream.
    private func nextDecoded() throws -> Frame? {
        let frame = Frame()
        while !finished {
            guard let step = try decoder.receive(into: frame, countingDamage: &decodeErrors) else { continue }
            switch step {
            case .ok:
                if let window, !(frame.pts.map { window.contains($0, in: stream.timeBase) } ?? false) {
                    av_frame_unref(frame.pointer)
                    continue
                }
                return frame
            case .endOfStream:
                finished = true
                return nil
            case .needsInput:
                if draining { finished = true; return nil }
                try feed()
            }
        }
        return nil
    }

    /// Reads packets until one video packet has been sent to the decoder (or the file ends).
    private func feed() throws {
        while true {
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch is FFmpegError {
                // A damaged tail (truncated file) ends the stream; it counts as damage, not as a crash.
                decodeErrors += 1
                endedEarly = true
                more = false
            }
            if !more {
                draining = true
                // A decoder that never got a usable packet (a file cut before its first parameter sets) refuses the
                // flush as invalid data: that is damage, counted, and the end.
                _ = try decoder.send(nil, countingDamage: &decodeErrors)
                return
            }
            if packet.streamIndex != stream.index {
                try otherPacketHandler?(packet)
                continue
            }
            packetsRead += 1
            if packet.isKeyFrame { keyPacketsRead += 1 }
            if let unwantedPacket { decoder.skipsUnreferencedFrames = unwantedPacket(packet) }
            let refused = decodeErrors
            _ = try decoder.send(packet, countingDamage: &decodeErrors)
            if decodeErrors > refused { continue }
            return
        }
    }
}

/// What the ffmpeg CLI does to decoded frames before scaling: deinterlaces those flagged interlaced (`bwdif`) and turns
/// them upright by the stream's display rotation. Frames in, in presentation order, with `pass`; the frames ready come out.
public final class UprightFrames {
    let stream: StreamInfo
    private var graph: FilterGraph?
    private var graphDeinterlaces = false
    /// Frames flagged interlaced were met (from then on every frame goes through the deinterlacer).
    public private(set) var deinterlaced = false

    public init(stream: StreamInfo) { self.stream = stream }

    /// Takes the next decoded frame (nil: the stream ended) and returns the frames the chain lets out, often just that
    /// frame itself.
    public func pass(_ decoded: Frame?) throws -> [Frame] {
        guard let decoded else {
            try graph?.push(nil)
            return try drain()
        }
        if decoded.pointer.pointee.interlaced_frame != 0 { deinterlaced = true }
        let description = [deinterlaced ? FilterGraph.deinterlace : nil, stream.rotation.filter].compactMap { $0 }.joined(separator: ",")
        if description.isEmpty { return [decoded] }
        var out: [Frame] = []
        if graph == nil || deinterlaced != graphDeinterlaces {
            // Only a chain that turns frames is ever replaced (by one that deinterlaces too), and it holds none:
            // a turn has no delay, and every frame it gave was let out before this one came.
            out = try drain()
            graph = try FilterGraph(description, like: decoded, timeBase: stream.timeBase)
            graphDeinterlaces = deinterlaced
        }
        try graph?.push(decoded)
        return out + (try drain())
    }

    /// Forgets the chain (after a seek: the next frame starts it again).
    public func reset() { graph = nil }

    private func drain() throws -> [Frame] {
        var out: [Frame] = []
        while let graph, let frame = try graph.pull() { out.append(frame) }
        return out
    }
}

/// Decodes one video stream from packets handed to it (a live input read elsewhere), once each, counting damage
/// instead of stopping on it. Frames come out in presentation order, upright and progressive (`UprightFrames`).
public final class PacketFrameDecoder {
    let decoder: Decoder
    let upright: UprightFrames
    /// Packets or frames FFmpeg reported as damaged.
    public private(set) var decodeErrors = 0
    /// `decodeErrors` plus what the decoder logged while concealing damage.
    public var damage: Int { decodeErrors + decoder.loggedErrors }
    /// Frames flagged interlaced were met and deinterlaced.
    public var deinterlaced: Bool { upright.deinterlaced }

    public init(demuxer: Demuxer, stream: StreamInfo) throws {
        // One thread: a frame-threaded decoder holds frames back, and a live segment waits for its last frame.
        decoder = try Decoder(demuxer: demuxer, stream: stream, threads: 1)
        upright = UprightFrames(stream: stream)
    }

    /// Decodes `packet` (nil: the input ended, let the last frames out) and returns the frames that are now complete.
    public func decode(_ packet: Packet?) throws -> [Frame] {
        var out: [Frame] = []
        if try decoder.send(packet, countingDamage: &decodeErrors) == .needsInput {
            // A full decoder (it should not be: every frame is taken after each packet) is emptied, then sent it again.
            out += try receiveAll()
            _ = try decoder.send(packet, countingDamage: &decodeErrors)
        }
        out += try receiveAll()
        if packet == nil { out += try upright.pass(nil) }
        return out
    }

    /// Every frame the decoder has ready, upright; a decoder that keeps reporting invalid data is left after 64 reports.
    private func receiveAll() throws -> [Frame] {
        var out: [Frame] = []
        var reports = 0
        while reports < 64 {
            let frame = Frame()
            guard let step = try decoder.receive(into: frame, countingDamage: &decodeErrors) else { reports += 1; continue }
            guard step == .ok else { break }
            out += try upright.pass(frame)
        }
        return out
    }
}

extension Frame {
    /// FFmpeg concealed damage in this frame (and handed it out anyway).
    var isDamaged: Bool {
        pointer.pointee.decode_error_flags != 0 || pointer.pointee.flags & cffmpeg_frame_flag_corrupt() != 0
    }
}
