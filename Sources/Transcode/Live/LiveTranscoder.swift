import Foundation
import Logging
import Media

/// Where a live stream comes from.
public struct LiveSource: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// `rtmp://HOST:PORT/APP/KEY`: Prism listens and a broadcaster pushes (and may push again after a drop).
        case rtmpListener = "rtmp"
        /// `srt://HOST:PORT`: Prism is the SRT listener (unless the URL says `mode=caller`).
        case srtListener = "srt"
        /// An HLS or HTTP URL (or another protocol FFmpeg opens) pulled from.
        case pull
        /// A file, read as fast as it decodes or at its own pace (`realtime`).
        case file
    }

    public let url: String
    public let kind: Kind
    public let realtime: Bool

    /// Reads `--input`; a URL with no host or port where one is needed, or a scheme FFmpeg has no protocol for, is bad input.
    public init(parsing text: String, realtime: Bool) throws {
        self.url = text
        self.realtime = realtime
        guard !text.isEmpty, text.utf8.count <= 2048, !text.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw TranscodeError.badLiveInput(String(text.prefix(64)), reason: "empty, over 2048 bytes, or holding control characters")
        }
        guard let colon = text.range(of: "://") else {
            kind = .file
            return
        }
        let scheme = text[..<colon.lowerBound].lowercased()
        let rest = text[colon.upperBound...]
        let authority = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let hostPort = authority.split(separator: "?").first.map(String.init) ?? ""
        switch scheme {
        case "rtmp":
            guard !hostPort.isEmpty else { throw TranscodeError.badLiveInput(text, reason: "write rtmp://HOST:PORT/APP/KEY") }
            let path = rest.dropFirst(authority.count)
            guard path.split(separator: "/").count >= 1 else { throw TranscodeError.badLiveInput(text, reason: "write rtmp://HOST:PORT/APP/KEY (an application name is needed)") }
            kind = .rtmpListener
        case "srt":
            guard let port = hostPort.split(separator: ":").last.flatMap({ Int($0) }), (1...65535).contains(port), hostPort.contains(":") else {
                throw TranscodeError.badLiveInput(text, reason: "write srt://HOST:PORT")
            }
            kind = text.contains("mode=caller") || text.contains("mode=rendezvous") ? .pull : .srtListener
        case "http", "https", "udp", "tcp", "rtp", "rtsp", "rtmps":
            guard !hostPort.isEmpty else { throw TranscodeError.badLiveInput(text, reason: "no host") }
            kind = .pull
        default:
            throw TranscodeError.badLiveInput(text, reason: "unsupported scheme '\(scheme)': use rtmp://, srt://, http(s)://, udp://, tcp:// or a file")
        }
    }

    /// A broadcaster that drops may push again: the command waits for it.
    public var reconnects: Bool { kind == .rtmpListener || kind == .srtListener }

    public var description: String { url }

    func open(interrupt: InterruptDeadline) throws -> Demuxer {
        switch kind {
        case .file: return try Demuxer(path: url)
        case .rtmpListener: return try Demuxer(url: url, options: ["listen": "1"], interrupt: interrupt)
        case .srtListener: return try Demuxer(url: url, options: ["mode": "listener"], interrupt: interrupt)
        case .pull: return try Demuxer(url: url, options: [:], interrupt: interrupt)
        }
    }
}

/// What `prism live` was asked for.
public struct LiveOptions: Sendable {
    public var ladder: [LadderRung]?
    public var codec: VideoCodec = .h264
    public var preset: String = PresetScale.defaultName
    public var segmentSeconds: Double = 2
    /// Segments each live playlist shows; 0 keeps all (an EVENT playlist).
    public var window = 6
    /// Seconds after a segment's last frame arrived by which its rungs must be published, else it is a gap.
    public var deadlineSeconds: Double?
    /// Seconds to wait for the first broadcaster (nil: as long as it takes), and for one to come back after a drop.
    public var connectTimeout: Double?
    public var reconnectWait: Double = 10
    /// Seconds without a packet before a connected input counts as dropped.
    public var stallTimeout: Double = 10
    public var audioBitrate = 128_000
    /// Segments encoded at once (local encoding: one per core; farm: the farmers' sessions).
    public var workers: Int?
    /// Where segments go first (the farm, verifying what comes back); nil: encoded here.
    public var farm: SegmentTaskExecutor?
    /// Share of the deadline a farmer may take before the segment is redone here.
    public var farmShare = 0.5
    /// Where the farm hands in segments it redid after catching a farmer (rewritten in place while still listed).
    public var segmentReplacement: SegmentReplacement?

    public init() {}

    public var deadline: Double { deadlineSeconds ?? 3 * segmentSeconds + 4 }

    public func validate() throws {
        guard segmentSeconds >= 0.5, segmentSeconds <= 60 else { throw TranscodeError.badSegmentLength(segmentSeconds) }
        guard (0...10_000).contains(window) else { throw TranscodeError.badLiveOption("--window must be 0 to 10000") }
        guard deadline.isFinite, deadline >= segmentSeconds, deadline <= 3600 else {
            throw TranscodeError.badLiveOption("--deadline must be at least the segment length and at most 3600 s")
        }
        for (name, value) in [("--connect-timeout", connectTimeout ?? 1), ("--reconnect-wait", reconnectWait), ("--stall-timeout", stallTimeout)] {
            guard value.isFinite, value >= 0, value <= 86_400 else { throw TranscodeError.badLiveOption("\(name) must be 0 to 86400 seconds") }
        }
        if let workers { guard (1...64).contains(workers) else { throw TranscodeError.badWorkerCount(workers) } }
    }
}

/// What a live run did, for `--json` and `live.json`.
public struct LiveReport: Codable, Sendable {
    public struct Latency: Codable, Sendable {
        public let median: Double
        public let p90: Double
        public let max: Double
    }
    public var input: String
    public var periods: Int
    public var segments: Int
    public var published: Int
    public var gaps: Int
    public var frames: Int
    public var redoneLocally: Int
    /// Frames not in any segment: before the first keyframe, after an over-long keyframe interval, an open GOP's leading frames.
    public var droppedFrames: Int
    /// Video frames decoded here (segments encoded here, or turned upright): each once, whatever the keyframe interval.
    public var decodedFrames: Int
    public var latency: Latency?
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var records: [LiveSegmentRecord]
}

/// `prism live`: cuts a live input into segments as it arrives (at source keyframes, packets only), encodes each
/// here or on farmers (verified as `prism submit` verifies), and appends each to every rung's live playlist once
/// accepted — in order, with a gap in place of one that misses its deadline. The input dropping ends a period; a
/// broadcaster who pushes again starts the next after a discontinuity (with the ladder reshaped to its picture).
public final class LiveTranscoder: Sendable {
    let source: LiveSource
    let output: URL
    let options: LiveOptions
    let logger: Logger
    let onRecord: @Sendable (LiveSegmentRecord) -> Void
    let interrupt = InterruptDeadline()

    public init(source: LiveSource, output: URL, options: LiveOptions, logger: Logger, onRecord: @escaping @Sendable (LiveSegmentRecord) -> Void = { _ in }) {
        self.source = source
        self.output = output
        self.options = options
        self.logger = logger
        self.onRecord = onRecord
    }

    /// Ends the run as if the input had ended (a signal): what is in flight is still published, then ENDLIST.
    public func stop() { interrupt.stop() }

    public func run() throws -> LiveReport {
        try options.validate()
        let started = Date()
        let cpuAtStart = processCPUSeconds()
        try prepareOutput()
        _ = try PresetScale.options(for: options.preset, encoder: options.codec.softwareEncoder, codec: options.codec)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-live-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        var state = RunState(outputSeconds: LadderTranscoder.outputStartSeconds)
        var publisher: LivePublisher?
        var pool: LiveWorkerPool?
        var ladder = options.ladder
        while !interrupt.isStopped {
            let waiting = state.period == 0 ? options.connectTimeout : options.reconnectWait
            if source.reconnects {
                logger.info(state.period == 0 ? "waiting for a broadcaster at \(source)\(waiting.map { " (up to \(Int($0)) s)" } ?? "")"
                                              : "waiting up to \(Int(options.reconnectWait)) s for the broadcaster to push again")
            }
            interrupt.arm(seconds: waiting)
            let demuxer: Demuxer
            do {
                demuxer = try source.open(interrupt: interrupt)
            } catch {
                if state.period == 0 && !interrupt.isStopped { throw error }
                if !interrupt.isStopped { logger.notice("no broadcaster pushed again within \(Int(options.reconnectWait)) s: the stream has ended") }
                break
            }
            guard let stream = demuxer.bestVideoStream() else {
                if state.period == 0 { throw TranscodeError.noAudioOrVideo(path: source.url) }
                logger.warning("the input came back without video; waiting again")
                if !source.reconnects { break }
                continue
            }
            let rungs = ladder ?? Ladder.defaultLadder(sourceHeight: stream.height)
            ladder = rungs
            if publisher == nil {
                publisher = LivePublisher(output: output, rungs: rungs, container: options.codec.container, window: options.window,
                                          targetSeconds: Int(CutPlan.keyframeCutLimit(segmentSeconds: options.segmentSeconds).rounded(.up)),
                                          logger: logger, onRecord: onRecord)
                pool = LiveWorkerPool(threads: options.workers ?? (options.farm == nil ? ProcessInfo.processInfo.activeProcessorCount : 4),
                                      publisher: publisher!, farm: options.farm, farmShare: options.farmShare, deadline: options.deadline, logger: logger)
                installReplacement(publisher: publisher!)
            }
            try runPeriod(demuxer: demuxer, stream: stream, rungs: rungs, state: &state, publisher: publisher!, pool: pool!, work: work)
            state.period += 1
            if !source.reconnects { break }
        }
        guard let publisher, let pool else {
            // Stopped (a signal) before any stream came: nothing was written.
            throw TranscodeError.badLiveInput(source.url, reason: "stopped before any stream arrived; nothing was written")
        }
        pool.close()
        publisher.finish()
        let records = publisher.records
        let latencies = records.filter { !$0.gap }.map(\.latencySeconds).sorted()
        let latency = latencies.isEmpty ? nil : LiveReport.Latency(median: latencies[latencies.count / 2],
                                                                    p90: latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.9))],
                                                                    max: latencies.last!)
        let report = LiveReport(input: source.url, periods: state.period, segments: records.count, published: records.filter { !$0.gap }.count,
                                gaps: records.filter(\.gap).count, frames: records.filter { !$0.gap }.reduce(0) { $0 + $1.frames },
                                redoneLocally: records.filter { !$0.gap && $0.encodedBy == "local" && $0.note != nil }.count,
                                droppedFrames: state.dropped, decodedFrames: state.decoded, latency: latency, wallSeconds: Date().timeIntervalSince(started),
                                cpuSeconds: processCPUSeconds() - cpuAtStart, records: records)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: output.appendingPathComponent("live.json"))
        return report
    }

    /// What carries over from one period (connection) to the next.
    struct RunState {
        var outputSeconds: Double
        var period = 0
        var nextIndex = 0
        var dropped = 0
        var decoded = 0
    }

    /// OUTDIR must be new or empty: a live run writes into it as it goes.
    private func prepareOutput() throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: output.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? manager.contentsOfDirectory(atPath: output.path))?.isEmpty == true else {
                throw TranscodeError.outputExists(path: output.path)
            }
        }
        do { try manager.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw TranscodeError.outputNotWritable(path: output.path, reason: error.localizedDescription)
        }
        guard manager.isWritableFile(atPath: output.path) else { throw TranscodeError.outputNotWritable(path: output.path, reason: "permission denied") }
    }

    private func installReplacement(publisher: LivePublisher) {
        options.segmentReplacement?.install { [logger] task, result in
            // A segment redone after its farmer was caught on a later one: its files are rewritten where they still are.
            let segment = try EncodedSegment.load(task: task, result: result, from: URL(fileURLWithPath: task.output))
            try publisher.rewrite(segment)
            logger.notice("segment \(task.index) was redone after its farmer was caught; its files were rewritten")
        }
    }

    /// Reads one connection to its end: cuts, sends, and queues audio segments as their audio arrives.
    private func runPeriod(demuxer: Demuxer, stream: StreamInfo, rungs: [LadderRung], state: inout RunState, publisher: LivePublisher,
                           pool: LiveWorkerPool, work: URL) throws {
        var period = state.period
        let secondsPerTick = stream.timeBase.doubleValue
        func shape(width: Int, height: Int) -> [RungTarget] {
            rungs.map { RungTarget(rung: $0, width: $0.width(forSourceWidth: width, sourceHeight: height), height: $0.height) }
        }
        var picture = (width: stream.displayWidth, height: stream.height)
        var targets = shape(width: picture.width, height: picture.height)
        let frameRate = stream.frameRate > 0 ? stream.averageFrameRate
            : (stream.baseFrameRate.isPositive ? stream.baseFrameRate : Rational(num: 30, den: 1))
        var taskRungs = targets.map { TranscodeTask.Rung(name: $0.rung.name, width: $0.width, height: $0.height, bitrate: $0.rung.bitrate) }
        // Each keyframe's picture size, decoded (a few milliseconds every segment): a broadcaster's encoder that changes
        // resolution mid-connection sends a keyframe with the new size, and the rungs must take its shape.
        let probe = try? Decoder(demuxer: demuxer, stream: stream, threads: 1)
        let probeFrame = Frame()
        func shownSize(of keyframe: Packet) -> (width: Int, height: Int)? {
            guard let probe else { return nil }
            probe.flushBuffers()
            defer { probe.flushBuffers() }
            _ = try? probe.send(keyframe)
            _ = try? probe.send(nil)
            guard (try? probe.receive(into: probeFrame)) == .ok else { return nil }
            defer { probeFrame.release() }
            let width = StreamInfo.shownWidth(storedWidth: probeFrame.width, sampleAspectRatio: probeFrame.sampleAspectRatio)
            // Rotation lives in the container, not the packets: a turned stream's size is compared as stored.
            return stream.rotation.swapsDimensions ? (probeFrame.height, width) : (width, probeFrame.height)
        }
        logger.info("\(period == 0 ? "live" : "period \(period)"): \(stream.width)x\(stream.height) \(stream.codecName) at \(String(format: "%.2f", frameRate.doubleValue)) fps → \(targets.map { "\($0.rung.name) \($0.width)x\($0.height)@\($0.rung.bitrate / 1000)k" }.joined(separator: ", ")), \(options.segmentSeconds) s segments")

        guard stream.width <= MediaLimits.maximumDimension, stream.height <= MediaLimits.maximumDimension, stream.width >= 2, stream.height >= 2 else {
            // Checked before anything is decoded or sent: a hostile broadcaster's claimed size must not reach a decoder.
            let refusal = MediaError.tooLarge(path: source.url, width: stream.width, height: stream.height, limit: MediaLimits.maximumDimension)
            if period == 0 && !source.reconnects { throw refusal }
            logger.error("\(refusal); this connection is dropped")
            return
        }
        var audio: AudioRendition?
        var audioInfo: HLSPlaylist.AudioRendition?
        func startAudio() {
            guard let audioStream = demuxer.bestAudioStream() else {
                // Earlier periods had audio: this one gets silence, so the audio playlist (and the player) goes on.
                guard let shape = publisher.audioShape else { return }
                do {
                    audio = try AudioRendition(silenceWithChannels: shape.channels, sampleRate: shape.sampleRate, directory: output.appendingPathComponent("audio"),
                                               container: options.codec.container, bitrate: options.audioBitrate,
                                               initName: LivePublisher.initName(period: period))
                    audioInfo = HLSPlaylist.AudioRendition(playlist: "audio/index.m3u8", peakBitrate: options.audioBitrate * 11 / 10, codecs: "mp4a.40.2",
                                                           channels: shape.channels)
                    logger.notice("period \(period) has no audio: its audio segments are silence")
                } catch {
                    logger.warning("cannot encode silence for period \(period) (\(error)); its audio playlist has no segments")
                }
                return
            }
            do {
                let track = try AudioRendition(demuxer: demuxer, stream: audioStream, directory: output.appendingPathComponent("audio"),
                                               container: options.codec.container, bitrate: options.audioBitrate,
                                               initName: LivePublisher.initName(period: period))
                audio = track
                audioInfo = HLSPlaylist.AudioRendition(playlist: "audio/index.m3u8", peakBitrate: options.audioBitrate * 11 / 10, codecs: "mp4a.40.2",
                                                       channels: track.channels)
            } catch {
                logger.warning("the input's audio cannot be decoded (\(error)); this period has no audio")
            }
        }
        startAudio()
        // Decoded here, once, when segments are encoded here, or when the stream must be turned upright (the farm then gets
        // upright mezzanines); otherwise segments go out as the source's packets and nothing is decoded here.
        let decodesHere = options.farm == nil || stream.rotation.quarterTurns != 0
        var frames: LiveFrames?
        func startFrames() {
            guard decodesHere else { return }
            do { frames = try LiveFrames(demuxer: demuxer, stream: stream) } catch {
                logger.warning("\(source): \(error); segments are sent as packets")
            }
        }
        startFrames()
        if stream.rotation.quarterTurns != 0 {
            logger.info("\(source): the stream asks to be shown turned \(stream.rotation.quarterTurns * 90)° clockwise; segments are turned upright")
        }
        var cutter = LiveCutter(segmentSeconds: options.segmentSeconds, timeBaseSeconds: secondsPerTick, decodedHere: frames != nil)
        var firstPTS: Int64?
        var shift: Int64 = 0
        var discontinuity = period > 0
        var lastEndSeconds = state.outputSeconds
        var audioQueue: [(index: Int, from: Double, to: Double, first: Bool, discontinuity: Bool)] = []
        var pace: (wall: Double, dts: Int64)?
        var announcedNominal = false

        func emit(_ cut: LiveCut) throws {
            if firstPTS == nil {
                firstPTS = cut.start
                shift = Int64((state.outputSeconds / secondsPerTick).rounded()) - cut.start
                audio?.videoStartSeconds = Double(cut.start) * secondsPerTick
            }
            let index = state.nextIndex
            state.nextIndex += 1
            let folder = work.appendingPathComponent(String(format: "seg_%06d", index))
            if frames == nil || options.farm != nil {
                // Only a segment that goes through a file (its packets, or a mezzanine for the farm) needs a folder.
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
            }
            let duration = Double(cut.end - cut.start) * secondsPerTick
            publisher.register(.init(index: index, period: period, frames: cut.frames, durationSeconds: duration, discontinuity: discontinuity,
                                     lastArrival: cut.lastArrival, deadline: cut.lastArrival + options.deadline, targets: targets,
                                     frameRate: frameRate.doubleValue))
            let output = folder.appendingPathComponent("out").path
            let deadline = cut.lastArrival + options.deadline
            let job = { (work: LiveWorkerPool.Work) in
                pool.submit(LiveWorkerPool.Job(index: index, work: work, folder: folder, frames: cut.frames, deadline: deadline,
                                               lastArrival: cut.lastArrival))
            }
            if let decoded = frames {
                // Decoded here once: encoded here from the frames, or (a turned stream for the farm) sent as an upright mezzanine.
                // Live segments take one pass: a second would add its analysis to every segment's latency.
                let (rungs, codec, preset, shift) = (taskRungs, options.codec, options.preset, shift)
                let farmed = options.farm != nil
                decoded.want(cut) { pictures in
                    for picture in pictures { picture.pts = picture.pts.map { $0 + shift } }
                    let task = TranscodeTask(index: index, source: folder.appendingPathComponent("source.ts").path, rungs: rungs, codec: codec,
                                             preset: preset, encoder: .software, frameRate: frameRate, output: output, passes: 1)
                    guard farmed, let first = pictures.first else { return job(.frames(pictures, task, stream.timeBase)) }
                    job(.mezzanine(pictures, MezzanineWriter(width: first.width, height: first.height, timeBase: stream.timeBase, frameRate: frameRate), task))
                }
            } else {
                let sourcePath = folder.appendingPathComponent("source.nut").path
                let muxer = try Muxer(format: "nut")
                let streamIndex = try muxer.addStream(copying: stream, of: demuxer)
                try muxer.open(path: sourcePath)
                try muxer.writeHeader()
                for item in cut.packets {
                    guard let packet = item.packet else { continue }
                    let copy = try packet.reference()
                    copy.pts = item.pts + shift
                    copy.dts = item.dts + shift
                    try muxer.write(copy, stream: streamIndex)
                }
                try muxer.finish()
                let window = cut.needsWindow ? SegmentWindow(start: cut.start + shift, end: cut.end + shift, timeBase: stream.timeBase) : nil
                job(.task(TranscodeTask(index: index, source: sourcePath, window: window, rungs: taskRungs, codec: options.codec, preset: options.preset,
                                        encoder: .software, frameRate: frameRate, output: output, passes: 1)))
            }
            let from = Double(cut.start - firstPTS!) * secondsPerTick, to = Double(cut.end - firstPTS!) * secondsPerTick
            if let track = audio {
                audioQueue.append((index, from, to, from == 0, discontinuity))
                if track.stream == nil {
                    try track.addSilence(through: to)
                    writeAudio(upTo: to)
                }
            }
            discontinuity = false
            lastEndSeconds = state.outputSeconds + to
        }

        func writeAudio(upTo limit: Double?) {
            guard let track = audio, let info = audioInfo else { return }
            while let head = audioQueue.first, limit == nil || head.to <= limit! {
                audioQueue.removeFirst()
                do {
                    let entry = try track.writeSegment(index: head.index, from: head.from, to: head.to, offsetSeconds: state.outputSeconds, first: head.first)
                    publisher.audioSampleRate = track.sampleRate
                    publisher.publishAudio(entry, index: head.index, period: period, discontinuity: head.discontinuity,
                                           info: HLSPlaylist.AudioRendition(playlist: info.playlist, peakBitrate: max(info.peakBitrate, track.peakBitrate),
                                                                            codecs: info.codecs, channels: info.channels))
                } catch {
                    logger.warning("audio segment \(head.index): \(error); audio stops for this period")
                    audio = nil
                    return
                }
            }
        }

        /// Publishes what the period holds: its last segment, and its audio to the end.
        func endPeriod(_ ending: String) throws {
            if let cut = cutter.flush() { try emit(cut) }
            if let decoded = frames {
                decoded.finish()
                state.dropped += decoded.dropped
                state.decoded += decoded.decoded
                if decoded.deinterlaced { logger.notice("the input is interlaced: its fields were deinterlaced (bwdif) before scaling") }
                if decoded.damage > 0 { logger.notice("\(decoded.damage) damaged packet(s) or frame(s) were concealed by FFmpeg's decoder") }
                if decoded.overflows > 0 { logger.warning("decoded frames passed \(LiveFrames.maximumHeldBytes >> 20) MiB \(decoded.overflows) time(s) with no segment cut; the oldest were let go") }
            }
            if let track = audio {
                do { try track.finishEncoding() } catch { logger.warning("audio: \(error)") }
                writeAudio(upTo: nil)
                try? track.finish()
            }
            state.dropped += cutter.droppedWaitingForKeyframe + cutter.droppedLate
            if cutter.droppedWaitingForKeyframe + cutter.droppedLate > 0 {
                logger.notice("\(cutter.droppedWaitingForKeyframe) frame(s) came before a keyframe to start from and \(cutter.droppedLate) after their segment was cut; they are in no segment")
            }
            logger.info("input period \(period) ended: \(ending)")
        }

        /// Ends the period and starts the next on the same input (after a discontinuity).
        func newPeriod(ending: String, cause: String) throws {
            try endPeriod(ending)
            state.outputSeconds = lastEndSeconds
            state.period += 1
            period = state.period
            cutter = LiveCutter(segmentSeconds: options.segmentSeconds, timeBaseSeconds: secondsPerTick, decodedHere: frames != nil)
            firstPTS = nil
            discontinuity = true
            pace = nil
            audio = nil
            audioQueue = []
            startAudio()
            startFrames()
            logger.info("period \(period): the same input after \(cause)")
        }

        let packet = Packet()
        var lastDTS: Int64?
        // Timestamps that jump back, or forward by more than this, start a new period (a pulled stream's
        // discontinuity, an encoder restarted behind a relay): the timeline would not hold together across them.
        let jumpTicks = Int64((max(10, 5 * options.segmentSeconds) / secondsPerTick).rounded())
        var ending = "end of stream"
        reading: while true {
            interrupt.arm(seconds: options.stallTimeout)
            let more: Bool
            do { more = try demuxer.read(into: packet) } catch {
                ending = interrupt.isStopped ? "stopped" : interrupt.expired ? "no packet for \(Int(options.stallTimeout)) s" : "the input broke (\(error))"
                break reading
            }
            guard more else { break }
            if let track = audio, packet.streamIndex == track.stream?.index {
                do { try track.consume(packet) } catch {
                    logger.warning("audio: \(error); audio stops for this period")
                    audio = nil
                }
                if let through = audio?.encodedThroughSeconds { writeAudio(upTo: through) }
                continue
            }
            guard packet.streamIndex == stream.index, let dts = packet.dts ?? packet.pts else { continue }
            let pts = packet.pts ?? dts
            if let last = lastDTS, dts < last - Int64((1 / secondsPerTick).rounded()) || dts > last + jumpTicks {
                try newPeriod(ending: "its timestamps jumped \(String(format: "%+.1f", Double(dts - last) * secondsPerTick)) s", cause: "a timestamp jump")
            }
            if packet.isKeyFrame, let size = shownSize(of: packet), size != picture, size.width >= 2, size.height >= 2,
               size.width <= MediaLimits.maximumDimension, size.height <= MediaLimits.maximumDimension {
                let before = picture
                try newPeriod(ending: "the picture changed from \(before.width)x\(before.height) to \(size.width)x\(size.height)", cause: "a picture size change")
                picture = size
                targets = shape(width: size.width, height: size.height)
                taskRungs = targets.map { TranscodeTask.Rung(name: $0.rung.name, width: $0.width, height: $0.height, bitrate: $0.rung.bitrate) }
                logger.info("period \(period): \(size.width)x\(size.height) → \(targets.map { "\($0.rung.name) \($0.width)x\($0.height)" }.joined(separator: ", "))")
            }
            lastDTS = dts
            if source.realtime {
                // A file read at its own pace: each packet waits for its decode time, as `ffmpeg -re` sends.
                let now = LiveClock.now
                if pace == nil { pace = (now, dts) }
                let due = pace!.wall + Double(dts - pace!.dts) * secondsPerTick
                if due > now { Thread.sleep(forTimeInterval: min(due - now, 10)) }
            }
            let item = LivePacket(pts: pts, dts: dts, isKeyFrame: packet.isKeyFrame, duration: packet.duration, arrival: LiveClock.now,
                                  packet: try packet.reference())
            for cut in cutter.push(item) { try emit(cut) }
            frames?.decode(packet)
            if cutter.mode == .nominal && !announcedNominal {
                announcedNominal = true
                let how = frames == nil ? "each segment sent from the keyframe before it" : "from the frames decoded here"
                logger.notice("no keyframe for \(CutPlan.keyframeCutLimit(segmentSeconds: options.segmentSeconds)) s: cutting every \(options.segmentSeconds) s, \(how)")
            }
        }
        try endPeriod(ending)
        state.outputSeconds = lastEndSeconds
    }
}

/// Runs live segment tasks on a few threads: first on the farm (when there is one) for at most its share of the
/// deadline, then here; a task whose deadline passed before a thread took it up is a gap, not late work.
final class LiveWorkerPool: @unchecked Sendable {  // unchecked: the queue behind `condition`, which the worker threads wait on
    /// What a segment is made from.
    enum Work: Sendable {
        /// Packets (or a mezzanine) in the task's source file: for the farm, or encoded here.
        case task(TranscodeTask)
        /// Frames decoded here, encoded here (no farm) with the task's rungs and settings.
        case frames([Frame], TranscodeTask, Rational)
        /// Frames decoded here (turned upright) that the farm gets as a mezzanine, written first at the task's source.
        case mezzanine([Frame], MezzanineWriter, TranscodeTask)
    }

    struct Job: Sendable {
        let index: Int
        let work: Work
        let folder: URL
        let frames: Int
        let deadline: Double
        let lastArrival: Double
    }

    private let condition = NSCondition()
    private var queue: [Job] = []
    private var closed = false
    let publisher: LivePublisher
    let farm: SegmentTaskExecutor?
    let farmShare: Double
    let deadline: Double
    let logger: Logger

    init(threads: Int, publisher: LivePublisher, farm: SegmentTaskExecutor?, farmShare: Double, deadline: Double, logger: Logger) {
        self.publisher = publisher
        self.farm = farm
        self.farmShare = farmShare
        self.deadline = deadline
        self.logger = logger
        for number in 0..<max(1, threads) {
            let thread = Thread { [self] in loop() }
            thread.stackSize = 16 << 20
            thread.name = "prism-live-\(number)"
            thread.start()
        }
    }

    func submit(_ job: Job) {
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty { condition.unlock(); return }
            let job = queue.removeFirst()
            condition.unlock()
            run(job)
        }
    }

    private func run(_ job: Job) {
        let index = job.index
        guard LiveClock.now < job.deadline else {
            publisher.fail(index: index, reason: "encoding fell behind the input (its deadline passed before it could start)")
            try? FileManager.default.removeItem(at: job.folder)
            return
        }
        let task: TranscodeTask
        var expected = job.frames
        switch job.work {
        case .task(let made):
            task = made
        case .frames(let frames, let made, let timeBase):
            var remaining = frames[...]
            do {
                let segment = try SegmentTaskRunner.encode(made, timeBase: timeBase, frameCount: frames.count, frames: { remaining.popFirst() }).segment
                guard segment.frames > 0 else { throw MediaError.noFrames(path: "segment \(index)") }
                publisher.deliver(segment, encodedBy: "local", note: nil)
            } catch {
                publisher.fail(index: index, reason: "it could not be encoded (\(error))")
            }
            return
        case .mezzanine(let frames, let writer, let made):
            var remaining = frames[...]
            do {
                expected = try writer.write(to: made.source, frames: { remaining.popFirst() }, onFrame: {})
            } catch {
                try? FileManager.default.removeItem(at: job.folder)
                return publisher.fail(index: index, reason: "its mezzanine could not be written (\(error))")
            }
            task = made
        }
        var note: String?
        var attempt: FarmAttempt?
        // The folder goes once nothing uses it: here at the end, or when a late farm call lets go of it.
        defer { if let attempt { attempt.release() } else { try? FileManager.default.removeItem(at: job.folder) } }
        if let farm {
            let call = FarmAttempt(task: task, executor: farm, folder: job.folder)
            attempt = call
            switch call.wait(seconds: job.lastArrival + deadline * farmShare - LiveClock.now) {
            case .done(let result):
                if result.frames == expected, let segment = try? EncodedSegment.load(task: task, result: result, from: URL(fileURLWithPath: task.output)) {
                    publisher.deliver(segment, encodedBy: "farm", note: nil)
                    return
                }
                note = "the farm returned \(result.frames) frames for a \(expected)-frame segment"
            case .failed(let error):
                note = "the farm did not deliver it (\(error))"
            case .late:
                note = "the farm took longer than \(String(format: "%.1f", deadline * farmShare)) s"
            }
            logger.notice("segment \(index): \(note!); redoing it here")
        }
        var local = task
        local.output = job.folder.appendingPathComponent("local").path
        do {
            let result = try SegmentTaskRunner.run(local)
            guard result.frames == expected else {
                throw TranscodeError.badTask("decoded \(result.frames) frames for a \(expected)-frame segment")
            }
            publisher.deliver(try EncodedSegment.load(task: local, result: result, from: URL(fileURLWithPath: local.output)), encodedBy: "local", note: note)
        } catch {
            publisher.fail(index: index, reason: "it could not be encoded (\(error))")
        }
    }
}

/// One segment on the farm, on its own thread so the live worker can stop waiting for it. Its folder goes when both
/// the worker and the farm call are done with it (a late farm call may still be writing there).
final class FarmAttempt: @unchecked Sendable {  // unchecked: state behind `condition`, which the worker waits on
    enum Outcome { case done(SegmentTaskResult), failed(Error), late }
    private let condition = NSCondition()
    private var outcome: Outcome?
    private var holders = 2
    private let folder: URL

    init(task: TranscodeTask, executor: @escaping SegmentTaskExecutor, folder: URL) {
        self.folder = folder
        let thread = Thread { [self] in
            let result: Outcome
            do { result = .done(try executor(task)) } catch { result = .failed(error) }
            condition.lock()
            outcome = result
            condition.broadcast()
            condition.unlock()
            release()
        }
        thread.stackSize = 16 << 20
        thread.start()
    }

    func wait(seconds: Double) -> Outcome {
        let until = Date(timeIntervalSinceNow: max(0, seconds))
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil {
            if !condition.wait(until: until) { break }
        }
        return outcome ?? .late
    }

    func release() {
        condition.lock()
        holders -= 1
        let last = holders == 0
        condition.unlock()
        if last { try? FileManager.default.removeItem(at: folder) }
    }
}
