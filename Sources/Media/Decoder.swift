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
    public init(path: String, threads: Int = 0, window: SegmentWindow? = nil) throws {
        self.window = window
        demuxer = try Demuxer(path: path)
        guard let video = demuxer.bestVideoStream() else { throw MediaError.noVideoStream(path: path) }
        guard video.width > 0, video.height > 0 else { throw MediaError.unsupportedCodec(path: path, codec: video.codecName) }
        if video.width > MediaLimits.maximumDimension || video.height > MediaLimits.maximumDimension {
            throw MediaError.tooLarge(path: path, width: video.width, height: video.height, limit: MediaLimits.maximumDimension)
        }
        stream = video
        decoder = try Decoder(demuxer: demuxer, stream: video, threads: threads)
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
        graph = nil
        finished = false
        draining = false
    }

    /// The filters frames go through before they are handed out (`FilterGraph`): deinterlacing, made when the first
    /// frame flagged interlaced arrives, and the display rotation; made on first use, dropped on a seek.
    private var graph: FilterGraph?
    private var graphDeinterlaces = false
    /// Frames flagged interlaced were met and deinterlaced (the ffmpeg CLI would encode them as they are, combed).
    public private(set) var deinterlaced = false

    /// The next frame, upright and progressive, or nil at the end of the stream.
    public func next() throws -> Frame? {
        while true {
            if let graph, let filtered = try graph.pull() { return filtered }
            guard let decoded = try nextDecoded() else {
                try graph?.push(nil)
                return try graph?.pull()
            }
            if decoded.pointer.pointee.interlaced_frame != 0 { deinterlaced = true }
            let description = [deinterlaced ? FilterGraph.deinterlace : nil, stream.rotation.filter].compactMap { $0 }.joined(separator: ",")
            if description.isEmpty { return decoded }
            if graph == nil || deinterlaced != graphDeinterlaces {
                // Only a chain that turns frames is ever replaced (by one that deinterlaces too), and it holds none:
                // a turn has no delay, and every frame it gave was pulled before this one was decoded.
                graph = try FilterGraph(description, like: decoded, timeBase: stream.timeBase)
                graphDeinterlaces = deinterlaced
            }
            try graph?.push(decoded)
        }
    }

    /// The next decoded frame inside the window, as the decoder gives it, or nil at the end of the stream.
    private func nextDecoded() throws -> Frame? {
        let frame = Frame()
        while !finished {
            let step: CodecStep
            do { step = try decoder.receive(into: frame) } catch let error as FFmpegError where error.isInvalidData {
                decodeErrors += 1
                continue
            }
            switch step {
            case .ok:
                // FFmpeg conceals damage and hands the frame out anyway; it is counted, so a caller can hold a file
                // with damaged frames to its policy (`decodeErrors`).
                if frame.pointer.pointee.decode_error_flags != 0 || frame.pointer.pointee.flags & cffmpeg_frame_flag_corrupt() != 0 {
                    decodeErrors += 1
                }
                if frame.pts == nil { frame.pts = frame.bestEffortTimestamp }
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
                do { _ = try decoder.send(nil) } catch let error as FFmpegError where error.isInvalidData { decodeErrors += 1 }
                return
            }
            if packet.streamIndex != stream.index {
                try otherPacketHandler?(packet)
                continue
            }
            packetsRead += 1
            if packet.isKeyFrame { keyPacketsRead += 1 }
            if let unwantedPacket { decoder.skipsUnreferencedFrames = unwantedPacket(packet) }
            do {
                _ = try decoder.send(packet)
            } catch let error as FFmpegError where error.isInvalidData {
                decodeErrors += 1
                continue
            }
            return
        }
    }
}
