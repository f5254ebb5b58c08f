import Foundation
import Logging
import Media
import Synchronization

/// What `prism transcode` was asked for.
public struct TranscodeOptions: Sendable {
    /// Rungs to make; nil derives the default ladder from the source.
    public var ladder: [LadderRung]?
    public var codec: VideoCodec = .h264
    public var preset: String = PresetScale.defaultName
    public var encoder: EncoderPreference = .auto
    public var segmentSeconds: Double = 2
    /// Passes over each segment for encoders that take two (x264): 2 (default) spends a segment's bits where its
    /// analysis pass found them needed; 1 is faster.
    public var passes = 2
    /// Segments in flight at once; each holds at most one segment of decoded frames. Nil: `automaticWorkers`.
    public var workers: Int?

    /// Pictures an encoder holds at once, about: x264 medium's 40-frame lookahead, its B-frames and references.
    static let picturesPerEncoder = 60
    /// What the encoders of all workers may hold, about, before fewer workers take the job.
    static let encoderMemoryBudget = 512 * 1024 * 1024

    /// One worker per core while the encoders' pictures fit the budget, fewer (at least one, its encoders sharing the
    /// cores as threads) for large ladders. Every worker holds an encoder per rung and an x264 encoder's lookahead is
    /// most of a job's memory: one worker per core on a 1080p 4-rung ladder peaked at 2.25x the ffmpeg CLI's memory
    /// (eight encoders to its four) for the same speed on this 2-core machine, while small ladders encode faster
    /// spread over segments than over x264's threads (benchmarks/RESULTS.md, memory section). `keptPixels`: the source
    /// pixels a worker keeps for a segment's second pass (see `SegmentEncoder`), 0 when it keeps none.
    public static func automaticWorkers(pixelsPerFrame rungPixels: [Int], keptPixels: Int = 0,
                                        cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        let perWorker = max(1, rungPixels.reduce(0, +) * 3 / 2 * picturesPerEncoder + keptPixels * 3 / 2)
        return min(max(1, cores), 64, max(1, encoderMemoryBudget / perWorker))
    }
    static func automaticWorkers(for targets: [RungTarget], keptPixels: Int = 0, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        automaticWorkers(pixelsPerFrame: targets.map { $0.width * $0.height }, keptPixels: keptPixels, cores: cores)
    }

    /// What one worker may keep of a segment's decoded frames for its second pass, about. A segment of 1080p at up to
    /// 60 fps fits; past it (4K) a job encodes each segment in one pass, with a notice, rather than hold gigabytes.
    static let keptFrameBudget = 400 * 1024 * 1024
    public var audioBitrate = 128_000
    /// When set, each segment is cut to a standalone file and transcoded as a `TranscodeTask` by this
    /// executor (the plain sandbox, a farmer) instead of in this process.
    public var taskExecutor: SegmentTaskExecutor?
    /// Where that executor hands in a redone segment (see `SegmentReplacement`).
    public var segmentReplacement: SegmentReplacement?

    public init() {}

    public func validate() throws {
        guard segmentSeconds >= 0.5, segmentSeconds <= 60 else { throw TranscodeError.badSegmentLength(segmentSeconds) }
        if let workers { guard workers >= 1, workers <= 64 else { throw TranscodeError.badWorkerCount(workers) } }
        guard (1...2).contains(passes) else { throw TranscodeError.badPassCount(passes) }
    }
}

/// Progress of a running transcode, for a progress line.
public struct TranscodeProgress: Sendable {
    public let framesDone: Int
    public let framesExpected: Int?
    public let mediaSecondsDone: Double
    public let mediaSecondsExpected: Double?
    public let elapsedSeconds: Double
}

/// Turns one input into an HLS ladder: decode once; each segment's frames go to a worker that scales and
/// encodes them for every rung; finished segments are written in order, then playlists and report.
public final class LadderTranscoder {
    /// Output timelines start here, as FFmpeg's own HLS output does, so B-frame decode times stay positive.
    public static let outputStartSeconds = 1.4
    /// Decoded frames waiting for one segment's worker; past this the decoder waits (bounds memory: a second
    /// of 1080p is about 100 MB; measured, the encoders' own lookahead dominates peak memory, not this queue).
    static let segmentQueueFrames = 32
    /// Containers' frame counts can disagree with what decodes by a frame or two (edit lists, a dropped
    /// leading B-frame); more than this missing means the file was cut short.
    static let frameCountSlack = 2
    /// Decode damage policy: a source whose damaged packets and concealed frames are more than this share of its frames
    /// fails with exit 2 (a truncated transport stream ends in a half frame; a scratched one shows its errors); up to it,
    /// the ladder is made and the damage is logged and reported (`decodeErrors`).
    static let damagedShareLimit = 0.01

    let input: String
    let output: URL
    let options: TranscodeOptions
    let logger: Logger
    let progress: (@Sendable (TranscodeProgress) -> Void)?

    public init(input: String, output: URL, options: TranscodeOptions, logger: Logger, progress: (@Sendable (TranscodeProgress) -> Void)? = nil) {
        self.input = input
        self.output = output
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    /// Runs the job; the output folder appears only if everything succeeded.
    public func run() throws -> TranscodeReport {
        try options.validate()
        let started = Date()
        let cpuAtStart = processCPUSeconds()
        let reader: VideoFrameReader
        do {
            reader = try VideoFrameReader(path: input)
        } catch MediaError.noVideoStream(let path) {
            throw TranscodeError.noAudioOrVideo(path: path)
        }
        let stream = reader.stream
        let ladder = options.ladder ?? Ladder.defaultLadder(sourceHeight: stream.height)
        for rung in ladder where rung.height > stream.height {
            logger.warning("\(rung.name) is taller than the \(stream.height)-line source: it will be upscaled")
        }
        // The picture's shape as shown (anamorphic sources: width × sample aspect ratio); rungs encode square pixels.
        let targets = ladder.map { RungTarget(rung: $0, width: $0.width(forSourceWidth: stream.displayWidth, sourceHeight: stream.height), height: $0.height) }
        let (choice, device) = try EncoderSelection.choose(codec: options.codec, preference: options.encoder, preset: options.preset)
        if let reason = choice.fallbackReason {
            logger.notice("no hardware encoder opened, encoding with \(choice.encoderName) (\(reason))")
        }
        let folder = try OutputFolder(destination: output)
        do {
            var report: TranscodeReport
            if let executor = options.taskExecutor {
                let cutter = try SourceCutter(path: input, demuxer: reader.demuxer, stream: stream, otherPacket: nil)
                if cutter.endedEarly {
                    throw TranscodeError.truncatedInput(path: input, decoded: cutter.packets.count, declared: stream.frameCountHint)
                }
                if let plan = cutter.plan(segmentSeconds: options.segmentSeconds) {
                    report = try transcodeByTasks(cutter: cutter, plan: plan, executor: executor, targets: targets, choice: choice, staging: folder.staging)
                } else {
                    logger.notice("\(input): packets lack usable timestamps or keyframes; segments are decoded and sent as mezzanines")
                    report = try transcode(reader: try VideoFrameReader(path: input), targets: targets, choice: choice, device: device, staging: folder.staging)
                }
            } else {
                report = try transcode(reader: reader, targets: targets, choice: choice, device: device, staging: folder.staging)
            }
            report.wallSeconds = Date().timeIntervalSince(started)
            report.cpuSeconds = processCPUSeconds() - cpuAtStart
            try report.jsonData().write(to: folder.staging.appendingPathComponent("report.json"))
            try folder.commit()
            return report
        } catch {
            folder.discard()
            throw error
        }
    }

    private func transcode(reader: VideoFrameReader, targets: [RungTarget], choice: EncoderChoice, device: HardwareDevice?, staging: URL) throws -> TranscodeReport {
        let stream = reader.stream
        let container = options.codec.container
        let timeBase = stream.timeBase
        let secondsPerTick = timeBase.doubleValue
        let frameRate = stream.frameRate > 0 ? stream.averageFrameRate : Rational(num: 25, den: 1)
        let nominalFrameTicks = max(1, Int64((1 / frameRate.doubleValue / secondsPerTick).rounded()))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // A segment holds at most this many frames at the source's peak rate (a variable-rate source's average
        // understates it, and a GOP shorter than the segment would put a second keyframe in it).
        let segmentFrames = Int((options.segmentSeconds * stream.peakFrameRate.doubleValue).rounded(.up))
        // Two passes over a segment read its frames twice: a worker keeps them from the first pass for the second.
        let keptPixels = stream.width * stream.height * segmentFrames
        let wantsTwo = options.taskExecutor == nil && options.passes == 2 && choice.takesTwoPasses
        let twoPasses = wantsTwo && keptPixels * 3 / 2 <= TranscodeOptions.keptFrameBudget
        if wantsTwo && !twoPasses {
            logger.notice("a \(options.segmentSeconds) s segment of \(stream.width)x\(stream.height) is too large to keep for a second pass: segments are encoded in one pass")
        }
        let workers = options.workers ?? TranscodeOptions.automaticWorkers(for: targets, keptPixels: twoPasses ? keptPixels : 0, cores: cores)
        let threadsPerEncoder = max(1, cores / workers)
        let factory = try RenditionEncoderFactory(choice: choice, device: device, threadsPerEncoder: threadsPerEncoder,
                                                  globalHeader: container == .fragmentedMP4)
        let processor = try makeProcessor(targets: targets, factory: factory, choice: choice, timeBase: timeBase, frameRate: frameRate,
                                          gopSize: segmentFrames + 1, width: stream.width, height: stream.height)
        defer { if let work = (processor as? TaskSegmentProcessor)?.workFolder { try? FileManager.default.removeItem(at: work) } }
        let writers = try targets.map { try RenditionWriter(directory: staging.appendingPathComponent($0.rung.name), container: container) }
        let sequencer = SegmentSequencer(writers: writers, targets: targets, encoderName: choice.encoderName)
        installReplacement(into: sequencer)
        let offsetTicks = Int64((LadderTranscoder.outputStartSeconds / secondsPerTick).rounded())

        var audio: AudioRendition?
        if let audioStream = reader.demuxer.bestAudioStream() {
            let track = try AudioRendition(demuxer: reader.demuxer, stream: audioStream, directory: staging.appendingPathComponent("audio"),
                                           container: container, bitrate: options.audioBitrate)
            reader.otherPacketHandler = { packet in
                if packet.streamIndex == audioStream.index { try track.consume(packet) }
            }
            audio = track
        }

        logger.info("transcoding \(input) (\(stream.width)x\(stream.height) \(stream.codecName)) to \(targets.map(\.rung.description).joined(separator: ", ")) with \(choice.encoderName) preset \(choice.preset)\(twoPasses ? " in two passes" : ""), \(options.segmentSeconds) s segments, \(workers) workers")

        let inFlight = DispatchSemaphore(value: workers)
        let group = DispatchGroup()
        let failure = FirstError()
        let counter = ProgressCounter(expectedFrames: stream.frameCountHint, expectedSeconds: reader.demuxer.durationSeconds ?? stream.durationSeconds,
                                      secondsPerFrame: 1 / frameRate.doubleValue, callback: progress)
        var queue: SegmentFrameQueue?
        var segmentStarts: [Int64] = []
        var currentNominal = -1
        var firstPts: Int64?
        var lastRelative: Int64 = -1
        var lastDuration: Int64 = nominalFrameTicks
        var frames = 0

        func startSegment(_ index: Int) {
            inFlight.wait()
            let next = SegmentFrameQueue(capacity: LadderTranscoder.segmentQueueFrames)
            queue = next
            group.enter()
            let thread = Thread {
                defer { inFlight.signal(); group.leave() }
                do {
                    let kept = twoPasses ? KeptFrames(next.pop) : nil
                    let segment = try processor.process(index: index, frames: kept?.first ?? next.pop, secondPass: kept?.again) { counter.frameDone() }
                    try sequencer.deliver(segment)
                } catch {
                    failure.record(error)
                    next.cancel()
                }
            }
            thread.stackSize = 16 << 20
            thread.name = "prism-segment-\(index)"
            thread.start()
        }

        do {
            while failure.error == nil, let frame = try reader.next() {
                let pts = frame.pts ?? (firstPts.map { $0 + lastRelative + lastDuration } ?? 0)
                if firstPts == nil {
                    firstPts = pts
                    audio?.videoStartSeconds = Double(pts) * secondsPerTick
                }
                // Timestamps must rise for the encoder; a source that repeats or reorders them gets nudged.
                let relative = max(pts - firstPts!, lastRelative + 1)
                if frame.duration > 0 { lastDuration = frame.duration }
                let nominal = Int((Double(relative) * secondsPerTick / options.segmentSeconds + 1e-6).rounded(.down))
                if nominal > currentNominal {
                    queue?.close()
                    currentNominal = nominal
                    segmentStarts.append(relative)
                    let index = segmentStarts.count - 1
                    // Audio segment i is complete once video is two segments past it.
                    if let audio, index >= 2 {
                        try audio.writeSegments(index - 2..<index - 1, starts: segmentStarts.map { Double($0) * secondsPerTick },
                                                end: nil, offsetSeconds: LadderTranscoder.outputStartSeconds)
                    }
                    startSegment(index)
                }
                lastRelative = relative
                frame.pts = relative + offsetTicks
                queue?.push(frame)
                frames += 1
            }
        } catch {
            queue?.cancel()
            group.wait()
            throw error
        }
        queue?.close()
        group.wait()
        if let error = failure.error { throw error }
        guard frames > 0 else { throw TranscodeError.zeroDuration(path: input) }
        if reader.deinterlaced { logger.notice("\(input) is interlaced: its fields were deinterlaced (bwdif) before scaling") }
        // A file cut short must not yield a ladder that looks complete.
        if reader.endedEarly || (stream.frameCountHint.map { frames < $0 - LadderTranscoder.frameCountSlack } ?? false) {
            throw TranscodeError.truncatedInput(path: input, decoded: frames, declared: stream.frameCountHint)
        }
        return try finishLadder(LadderRun(stream: stream, targets: targets, writers: writers, sequencer: sequencer, audio: audio,
                                          starts: segmentStarts.map { Double($0) * secondsPerTick },
                                          endSeconds: Double(lastRelative + lastDuration) * secondsPerTick, frameRate: frameRate,
                                          frames: frames, keyframes: reader.keyPacketsRead, decodeErrors: reader.damage, choice: choice,
                                          workers: workers, threadsPerEncoder: threadsPerEncoder, cutting: nil),
                                staging: staging)
    }
}

extension LadderTranscoder {
    /// Sends each planned segment — the source's own packets, primed packets or a mezzanine — as a task through
    /// `executor`, `workers` at a time, and writes the results in order. Nothing is decoded here except for
    /// mezzanine segments.
    func transcodeByTasks(cutter: SourceCutter, plan: CutPlan, executor: @escaping SegmentTaskExecutor, targets: [RungTarget],
                          choice: EncoderChoice, staging: URL) throws -> TranscodeReport {
        let stream = cutter.stream
        let container = options.codec.container
        let secondsPerTick = stream.timeBase.doubleValue
        let frameRate = stream.frameRate > 0 ? stream.averageFrameRate : Rational(num: 25, den: 1)
        let workers = options.workers ?? TranscodeOptions.automaticWorkers(for: targets)
        let frames = plan.segments.reduce(0) { $0 + $1.frames }
        guard frames > 0 else { throw TranscodeError.zeroDuration(path: input) }
        if let declared = stream.frameCountHint, frames < declared - LadderTranscoder.frameCountSlack {
            throw TranscodeError.truncatedInput(path: input, decoded: frames, declared: declared)
        }
        let shift = Int64((LadderTranscoder.outputStartSeconds / secondsPerTick).rounded()) - plan.firstPTS
        let sourcePath = cutter.path
        let writers = try targets.map { try RenditionWriter(directory: staging.appendingPathComponent($0.rung.name), container: container) }
        let sequencer = SegmentSequencer(writers: writers, targets: targets, encoderName: choice.encoderName)
        installReplacement(into: sequencer)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-tasks-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let rungs = targets.map { TranscodeTask.Rung(name: $0.rung.name, width: $0.width, height: $0.height, bitrate: $0.rung.bitrate) }
        let encoder = choice.family == .software ? EncoderPreference.software : EncoderPreference(rawValue: choice.family.rawValue) ?? .software
        let carriages = Dictionary(grouping: plan.segments, by: \.carriage).mapValues(\.count)
        logger.info("cutting \(input) \(plan.cutting == .keyframes ? "at its keyframes" : "every \(options.segmentSeconds) s (keyframes are sparse)"): \(plan.segments.count) segments, \(carriages[.packets] ?? 0) as their own packets, \(carriages[.primed] ?? 0) primed from an earlier keyframe, \(carriages[.mezzanine] ?? 0) as mezzanines")
        logger.info("transcoding \(input) (\(stream.width)x\(stream.height) \(stream.codecName)) to \(targets.map(\.rung.description).joined(separator: ", ")) as tasks, \(workers) at a time")

        let counter = ProgressCounter(expectedFrames: frames, expectedSeconds: Double(plan.endPTS - plan.firstPTS) * secondsPerTick,
                                      secondsPerFrame: 1 / frameRate.doubleValue, callback: progress)
        let inFlight = DispatchSemaphore(value: workers)
        let group = DispatchGroup()
        let failure = FirstError()
        let tally = TaskTally()
        let options = self.options
        do {
            try cutter.cut(plan, into: work, shift: shift, frameRate: frameRate) { segment in
                inFlight.wait()
                if let error = failure.error { inFlight.signal(); throw error }
                tally.add(bytes: segment.bytes)
                group.enter()
                let thread = Thread {
                    let folder = URL(fileURLWithPath: segment.path).deletingLastPathComponent()
                    defer { try? FileManager.default.removeItem(at: folder); inFlight.signal(); group.leave() }
                    do {
                        let output = folder.appendingPathComponent("out")
                        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
                        var task = TranscodeTask(index: segment.plan.index, source: segment.path, window: segment.window, rungs: rungs,
                                               codec: options.codec, preset: options.preset, encoder: encoder, frameRate: frameRate, output: output.path,
                                               passes: options.passes)
                        if segment.plan.carriage == .primed { task.origin = TaskOrigin(path: sourcePath, ptsShift: shift) }
                        let result = try executor(task)
                        guard result.frames == segment.plan.frames else {
                            throw TranscodeError.badTask("task \(segment.plan.index) returned \(result.frames) frames for a \(segment.plan.frames)-frame segment")
                        }
                        tally.add(decodeErrors: result.decodeErrors)
                        try sequencer.deliver(try EncodedSegment.load(task: task, result: result, from: output))
                        for _ in 0..<result.frames { counter.frameDone() }
                    } catch {
                        failure.record(error)
                    }
                }
                thread.stackSize = 16 << 20
                thread.name = "prism-task-\(segment.plan.index)"
                thread.start()
            }
        } catch {
            group.wait()
            throw failure.error ?? error
        }
        group.wait()
        if let error = failure.error { throw error }

        // Audio stays here: one more demux pass (no video decoding) feeds the AAC rendition.
        var audio: AudioRendition?
        let demuxer = try Demuxer(path: input)
        if let audioStream = demuxer.bestAudioStream() {
            let track = try AudioRendition(demuxer: demuxer, stream: audioStream, directory: staging.appendingPathComponent("audio"),
                                           container: container, bitrate: options.audioBitrate)
            track.videoStartSeconds = Double(plan.firstPTS) * secondsPerTick
            let packet = Packet()
            while (try? demuxer.read(into: packet)) == true {
                if packet.streamIndex == audioStream.index { try track.consume(packet) }
            }
            audio = track
        }
        let cutting = TranscodeReport.Cutting(mode: plan.cutting.rawValue, packets: carriages[.packets] ?? 0, primed: carriages[.primed] ?? 0,
                                              mezzanine: carriages[.mezzanine] ?? 0, sourceVideoBytes: plan.videoBytes, bytesSent: tally.bytes)
        return try finishLadder(LadderRun(stream: stream, targets: targets, writers: writers, sequencer: sequencer, audio: audio,
                                          starts: plan.segments.map { Double($0.start - plan.firstPTS) * secondsPerTick },
                                          endSeconds: Double(plan.endPTS - plan.firstPTS) * secondsPerTick, frameRate: frameRate,
                                          frames: frames, keyframes: plan.keyframes, decodeErrors: tally.decodeErrors, choice: choice,
                                          workers: workers, threadsPerEncoder: 1, cutting: cutting),
                                staging: staging)
    }
}

/// Bytes sent and damage reported across task threads.
final class TaskTally: Sendable {
    private let counts = Mutex((sent: 0, damaged: 0))
    var bytes: Int { counts.withLock { $0.sent } }
    var decodeErrors: Int { counts.withLock { $0.damaged } }
    func add(bytes: Int = 0, decodeErrors: Int = 0) {
        counts.withLock {
            $0.sent += bytes
            $0.damaged += decodeErrors
        }
    }
}

extension LadderTranscoder {
    /// Lets the task executor hand in redone segments (see `SegmentReplacement`): they replace what `sequencer` holds.
    func installReplacement(into sequencer: SegmentSequencer) {
        options.segmentReplacement?.install { task, result in
            try sequencer.replace(try EncodedSegment.load(task: task, result: result, from: URL(fileURLWithPath: task.output)))
        }
    }
}

/// What a finished run of segments leaves for packaging.
struct LadderRun {
    let stream: StreamInfo
    let targets: [RungTarget]
    let writers: [RenditionWriter]
    let sequencer: SegmentSequencer
    let audio: AudioRendition?
    /// Segment starts and the end of the last frame, seconds from the first frame.
    let starts: [Double]
    let endSeconds: Double
    let frameRate: Rational
    let frames: Int
    let keyframes: Int
    let decodeErrors: Int
    let choice: EncoderChoice
    let workers: Int
    let threadsPerEncoder: Int
    let cutting: TranscodeReport.Cutting?
}

extension LadderTranscoder {
    /// Closes the rendition writers, finishes the audio, writes playlists and returns the report.
    func finishLadder(_ run: LadderRun, staging: URL) throws -> TranscodeReport {
        let (stream, targets, sequencer, audio, starts, endSeconds, frameRate, frames) =
            (run.stream, run.targets, run.sequencer, run.audio, run.starts, run.endSeconds, run.frameRate, run.frames)
        let container = options.codec.container
        if run.decodeErrors > 0 {
            if Double(run.decodeErrors) > Self.damagedShareLimit * Double(max(frames, 1)) {
                throw TranscodeError.damagedInput(path: input, damaged: run.decodeErrors, frames: frames)
            }
            logger.warning("\(input): \(run.decodeErrors) damaged packet(s) or frame(s) in \(frames) frames, concealed by FFmpeg's decoder")
        }
        for writer in run.writers { try writer.finish() }
        var durations: [Double] = []
        for index in starts.indices { durations.append((index + 1 < starts.count ? starts[index + 1] : endSeconds) - starts[index]) }
        var audioSummary: TranscodeReport.Audio?
        var audioPlaylist: HLSPlaylist.AudioRendition?
        if let audio {
            try audio.finishEncoding()
            let written = audio.entries.count
            try audio.writeSegments(written..<starts.count, starts: starts, end: endSeconds, offsetSeconds: LadderTranscoder.outputStartSeconds)
            try audio.finish()
            let playlist = HLSPlaylist.media(entries: audio.entries, container: container)
            try playlist.write(to: staging.appendingPathComponent("audio/index.m3u8"), atomically: true, encoding: .utf8)
            audioPlaylist = HLSPlaylist.AudioRendition(playlist: "audio/index.m3u8", peakBitrate: audio.peakBitrate, codecs: "mp4a.40.2",
                                                       channels: audio.channels)
            audioSummary = TranscodeReport.Audio(codec: "aac", bitrate: audio.bitrate, sampleRate: audio.sampleRate, channels: audio.channels,
                                                 segments: audio.entries.count, bytes: audio.bytes, playlist: "audio/index.m3u8")
        }

        let written = sequencer.written
        var renditions: [TranscodeReport.Rendition] = []
        var variants: [HLSPlaylist.Variant] = []
        for (rungIndex, target) in targets.enumerated() {
            var entries: [HLSPlaylist.Entry] = []
            var bytes = 0, renditionFrames = 0, peak = 0
            for segment in written {
                let part = segment.renditions[rungIndex]
                entries.append(HLSPlaylist.Entry(file: part.file, durationSeconds: durations[segment.index]))
                bytes += part.bytes
                renditionFrames += part.frames
                if durations[segment.index] > 0 { peak = max(peak, Int(Double(part.bytes * 8) / durations[segment.index])) }
            }
            let playlistPath = "\(target.rung.name)/index.m3u8"
            try HLSPlaylist.media(entries: entries, container: container)
                .write(to: staging.appendingPathComponent(playlistPath), atomically: true, encoding: .utf8)
            let average = endSeconds > 0 ? Int(Double(bytes * 8) / endSeconds) : 0
            let codecs = sequencer.codecStrings[rungIndex] ?? options.codec.rawValue
            renditions.append(TranscodeReport.Rendition(name: target.rung.name, width: target.width, height: target.height, bitrate: target.rung.bitrate,
                                                        frames: renditionFrames, bytes: bytes, averageBitrate: average, peakBitrate: peak,
                                                        playlist: playlistPath, codecs: codecs))
            variants.append(HLSPlaylist.Variant(playlist: playlistPath, peakBitrate: peak, averageBitrate: average, width: target.width,
                                                height: target.height, frameRate: stream.peakFrameRate.doubleValue, codecs: codecs))
        }
        let master = HLSPlaylist.master(variants: variants.sorted { $0.height > $1.height }, audio: audioPlaylist, container: container)
        try master.write(to: staging.appendingPathComponent("master.m3u8"), atomically: true, encoding: .utf8)

        let segments = written.map { segment in
            TranscodeReport.Segment(index: segment.index, startSeconds: starts[segment.index], durationSeconds: durations[segment.index],
                                    frames: segment.frames, renditions: segment.renditions)
        }
        let source = TranscodeReport.Source(path: input, codec: stream.codecName, width: stream.width, height: stream.height,
                                            frameRate: frameRate.doubleValue, frames: frames, durationSeconds: endSeconds,
                                            hasAudio: audio != nil, keyframes: run.keyframes)
        let encoding = TranscodeReport.Encoding(codec: options.codec.rawValue, encoder: run.choice.encoderName, family: run.choice.family.rawValue,
                                                preset: run.choice.preset, fallbackReason: run.choice.fallbackReason, container: container.rawValue,
                                                segmentSeconds: options.segmentSeconds, workers: run.workers, threadsPerEncoder: run.threadsPerEncoder)
        logger.info("wrote \(segments.count) segments × \(targets.count) rungs, \(frames) frames each")
        return TranscodeReport(prism: PrismVersion.string, source: source, encoding: encoding, renditions: renditions, audio: audioSummary,
                               segments: segments, cutting: run.cutting, wallSeconds: 0, cpuSeconds: 0,
                               decodeErrors: run.decodeErrors + (audio?.decodeErrors ?? 0))
    }
}

extension LadderTranscoder {
    /// In-process encoding, or mezzanine cutting plus a task executor when one is set.
    func makeProcessor(targets: [RungTarget], factory: RenditionEncoderFactory, choice: EncoderChoice, timeBase: Rational,
                       frameRate: Rational, gopSize: Int, width: Int, height: Int) throws -> SegmentProcessor {
        guard let executor = options.taskExecutor else {
            return SegmentEncoder(targets: targets, factory: factory, timeBase: timeBase, frameRate: frameRate, gopSize: gopSize)
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-tasks-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let rungs = targets.map { TranscodeTask.Rung(name: $0.rung.name, width: $0.width, height: $0.height, bitrate: $0.rung.bitrate) }
        let options = self.options
        let encoder = choice.family == .software ? EncoderPreference.software : EncoderPreference(rawValue: choice.family.rawValue) ?? .software
        return TaskSegmentProcessor(
            mezzanine: MezzanineWriter(width: width, height: height, timeBase: timeBase, frameRate: frameRate),
            workFolder: work,
            makeTask: { index, source, output in
                TranscodeTask(index: index, source: source, rungs: rungs, codec: options.codec, preset: options.preset,
                            encoder: encoder, frameRate: frameRate, output: output, passes: options.passes)
            },
            executor: executor)
    }
}

/// Writes finished segments to their renditions strictly in order, whatever order workers finish in.
final class SegmentSequencer: @unchecked Sendable {  // unchecked: state and the (non-Sendable) writers only under `lock`
    struct Written {
        let index: Int
        let frames: Int
        let renditions: [TranscodeReport.SegmentRendition]
    }

    private let lock = NSLock()
    private let writers: [RenditionWriter]
    private let targets: [RungTarget]
    private let encoderName: String
    private var next = 0
    private var waiting: [Int: EncodedSegment] = [:]
    private(set) var written: [Written] = []
    private(set) var codecStrings: [Int: String] = [:]

    init(writers: [RenditionWriter], targets: [RungTarget], encoderName: String) {
        self.writers = writers
        self.targets = targets
        self.encoderName = encoderName
    }

    /// Puts a redone segment in place of one delivered earlier: still waiting, it is swapped; already written,
    /// its files are written again on their own (an MPEG-TS segment then restarts its continuity counters,
    /// which players take as a discontinuity of the transport, not of the timeline).
    func replace(_ segment: EncodedSegment) throws {
        lock.lock()
        defer { lock.unlock() }
        guard let position = written.firstIndex(where: { $0.index == segment.index }) else {
            waiting[segment.index] = segment
            return
        }
        var parts = written[position].renditions
        for (rung, rendition) in segment.renditions.enumerated() {
            let bytes = try RenditionWriter.rewrite(segment: segment.index, rendition: rendition, in: writers[rung].directory,
                                                    container: writers[rung].container)
            parts[rung].bytes = bytes
            parts[rung].frames = rendition.frames
            parts[rung].encodeSeconds = rendition.encodeSeconds
        }
        written[position] = Written(index: segment.index, frames: segment.frames, renditions: parts)
    }

    func deliver(_ segment: EncodedSegment) throws {
        lock.lock()
        defer { lock.unlock() }
        waiting[segment.index] = segment
        while let ready = waiting.removeValue(forKey: next) {
            var parts: [TranscodeReport.SegmentRendition] = []
            for (rung, rendition) in ready.renditions.enumerated() {
                if codecStrings[rung] == nil {
                    codecStrings[rung] = LadderTranscoder.codecString(rendition)
                }
                let bytes = try writers[rung].writeSegment(index: ready.index, parameters: rendition.parameters, packets: rendition.packets)
                parts.append(TranscodeReport.SegmentRendition(rung: targets[rung].rung.name, file: RenditionWriter.segmentName(ready.index, container: writers[rung].container),
                                                              frames: rendition.frames, bytes: bytes, encodeSeconds: rendition.encodeSeconds, encoder: encoderName))
            }
            written.append(Written(index: ready.index, frames: ready.frames, renditions: parts))
            next += 1
        }
    }
}

extension LadderTranscoder {
    /// The RFC 6381 codec string, from out-of-band headers or the first packet's in-band ones.
    static func codecString(_ rendition: EncodedRendition) -> String {
        HLSPlaylist.codecString(rendition.parameters, firstPacket: rendition.packets.first.map { Array($0.data) } ?? [])
    }
}

/// The first error any worker hit; later ones are dropped.
final class FirstError: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    var error: Error? { stored.withLock { $0 } }
    func record(_ error: Error) {
        stored.withLock { if $0 == nil { $0 = error } }
    }
}

/// Counts finished frames across workers and reports at most a few times a second.
final class ProgressCounter: Sendable {
    /// Frames done, and when progress was last reported (seconds after `started`).
    private let done = Mutex((frames: 0, lastReport: 0.0))
    private let started = Date()
    let expectedFrames: Int?
    let expectedSeconds: Double?
    let secondsPerFrame: Double
    let callback: (@Sendable (TranscodeProgress) -> Void)?

    init(expectedFrames: Int?, expectedSeconds: Double?, secondsPerFrame: Double, callback: (@Sendable (TranscodeProgress) -> Void)?) {
        self.expectedFrames = expectedFrames
        self.expectedSeconds = expectedSeconds
        self.secondsPerFrame = secondsPerFrame
        self.callback = callback
    }

    func frameDone() {
        guard let callback else { return }
        let elapsed = Date().timeIntervalSince(started)
        let (frames, due) = done.withLock { done in
            done.frames += 1
            let due = elapsed - done.lastReport >= 0.25
            if due { done.lastReport = elapsed }
            return (done.frames, due)
        }
        if due {
            callback(TranscodeProgress(framesDone: frames, framesExpected: expectedFrames, mediaSecondsDone: Double(frames) * secondsPerFrame,
                                       mediaSecondsExpected: expectedSeconds, elapsedSeconds: elapsed))
        }
    }
}
