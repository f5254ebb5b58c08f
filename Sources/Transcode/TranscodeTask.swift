import Foundation
import Media

/// One unit of work that can run anywhere — another process, the plain sandbox, a farmer: transcode a
/// standalone source segment into every rung. Geometry and rate are fixed by whoever cut the job, so
/// every segment of a rung comes out alike.
public struct TranscodeTask: Codable, Sendable, Equatable {
    public struct Rung: Codable, Sendable, Equatable {
        public var name: String
        public var width: Int
        public var height: Int
        public var bitrate: Int
        public init(name: String, width: Int, height: Int, bitrate: Int) {
            self.name = name
            self.width = width
            self.height = height
            self.bitrate = bitrate
        }
    }

    public var index: Int
    /// The source segment file: the source's own packets from a keyframe on (or a mezzanine), see `SourceCutter`.
    public var source: String
    /// The frames of `source` to encode, when it starts earlier than the segment (decoder priming); nil: all.
    public var window: SegmentWindow?
    public var rungs: [Rung]
    public var codec: VideoCodec
    public var preset: String
    public var encoder: String
    public var frameRateNumerator: Int32
    public var frameRateDenominator: Int32
    /// Where the rung files and `result.json` go.
    public var output: String
    /// Passes over the segment for an encoder that takes two (see `EncoderPass`); nil: 2 (what a farmer makes of a wire
    /// task; live segments are told 1).
    public var passes: Int?
    /// The submitter's own source file whose packets `source` copies, and the timestamp shift between them (a task
    /// file's pts are the source's plus `ptsShift`): a job's primed segments repeat the same packets from one keyframe,
    /// so their verification can decode that source once, in order, instead of from the keyframe for every segment.
    /// Never sent to a farmer.
    public var origin: TaskOrigin?

    public init(index: Int, source: String, window: SegmentWindow? = nil, rungs: [Rung], codec: VideoCodec, preset: String,
                encoder: EncoderPreference, frameRate: Rational, output: String, passes: Int? = nil) {
        self.index = index
        self.source = source
        self.window = window
        self.rungs = rungs
        self.codec = codec
        self.preset = preset
        self.encoder = encoder.rawValue
        frameRateNumerator = frameRate.num
        frameRateDenominator = frameRate.den
        self.output = output
        self.passes = passes
    }

    /// The file a rung's output goes to: MPEG-TS for H.264/HEVC, NUT (any codec, exact time base) otherwise.
    public func outputFile(for rung: Rung) -> String { "\(rung.name).\(codec.container == .mpegts ? "ts" : "nut")" }

    static let maximumRungs = 12

    /// Refuses specs that cannot be run, before any work starts.
    public func validate() throws {
        guard !rungs.isEmpty, rungs.count <= TranscodeTask.maximumRungs else { throw TranscodeError.badTask("a task needs 1 to \(TranscodeTask.maximumRungs) rungs") }
        for rung in rungs {
            guard rung.width >= 2, rung.width <= MediaLimits.maximumDimension, rung.height >= LadderRung.minimumHeight,
                  rung.height <= LadderRung.maximumHeight, rung.width % 2 == 0, rung.height % 2 == 0 else {
                throw TranscodeError.badTask("rung \(rung.name) has an unusable size \(rung.width)x\(rung.height)")
            }
            guard rung.name.range(of: "^[0-9]{2,4}p$", options: .regularExpression) != nil else {
                throw TranscodeError.badTask("rung name '\(rung.name)' is not HEIGHTp")
            }
            guard rung.bitrate >= 10_000, rung.bitrate <= 1_000_000_000 else { throw TranscodeError.badTask("rung \(rung.name) has bitrate \(rung.bitrate)") }
        }
        guard frameRateNumerator > 0, frameRateDenominator > 0 else { throw TranscodeError.badTask("frame rate must be positive") }
        guard index >= 0 else { throw TranscodeError.badTask("negative segment index") }
        if let passes, !(1...2).contains(passes) { throw TranscodeError.badTask("passes must be 1 or 2, not \(passes)") }
        if let window, !window.isValid { throw TranscodeError.badTask("the segment's frame window is empty or malformed") }
        _ = try EncoderPreference.parse(encoder)
    }
}

/// What a task produced, written as `result.json` beside its outputs.
public struct SegmentTaskResult: Codable, Sendable {
    public struct Rendition: Codable, Sendable {
        public var rung: String
        public var file: String
        public var frames: Int
        public var bytes: Int
        public var encodeSeconds: Double

        public init(rung: String, file: String, frames: Int, bytes: Int, encodeSeconds: Double) {
            self.rung = rung
            self.file = file
            self.frames = frames
            self.bytes = bytes
            self.encodeSeconds = encodeSeconds
        }
    }

    public var index: Int
    public var frames: Int
    public var encoder: String
    public var family: String
    public var renditions: [Rendition]
    public var decodeErrors: Int
    public var wallSeconds: Double

    public init(index: Int, frames: Int, encoder: String, family: String, renditions: [Rendition], decodeErrors: Int, wallSeconds: Double) {
        self.index = index
        self.frames = frames
        self.encoder = encoder
        self.family = family
        self.renditions = renditions
        self.decodeErrors = decodeErrors
        self.wallSeconds = wallSeconds
    }
}

/// A change to how a task is carried out: the operator's test aid for making a farmer dishonest on
/// purpose (`prism farmer serve --misbehave`), so that verification can be checked end to end.
public struct TaskAlteration: Sendable {
    /// Called with each decoded frame and its index; returns the frame to encode, or nil to drop it.
    public var frameFilter: (@Sendable (Frame, Int) throws -> Frame?)?
    /// Multiplies every rung's bitrate (below 1: a cheaper encode than asked).
    public var bitrateFactor: Double

    public init(frameFilter: (@Sendable (Frame, Int) throws -> Frame?)? = nil, bitrateFactor: Double = 1) {
        self.frameFilter = frameFilter
        self.bitrateFactor = bitrateFactor
    }
}

/// Runs a `TranscodeTask` in this process.
public enum SegmentTaskRunner {
    /// Encodes a task's frames (from `frames`, until nil) into every rung, as a task is encoded wherever it runs.
    /// `frameCount` (about how many frames come) sets a GOP longer than the segment, so only its first frame is a keyframe.
    /// `secondPass`, when given, yields the same frames again for an encoder that takes two passes.
    static func encode(_ task: TranscodeTask, timeBase: Rational, frameCount: Int, bitrateFactor: Double = 1,
                       frames: () throws -> Frame?, secondPass: (() throws -> Frame?)? = nil) throws -> (segment: EncodedSegment, choice: EncoderChoice) {
        let (choice, device) = try EncoderSelection.choose(codec: task.codec, preference: try EncoderPreference.parse(task.encoder), preset: task.preset)
        let frameRate = Rational(num: task.frameRateNumerator, den: task.frameRateDenominator)
        // One thread per encoder, as in-process segment workers use: x264's rate control starts a fresh 2 s segment
        // worse with frame threads (measured: whole-rung verification flagged threaded 240p@250k segment starts),
        // and a host runs one task per core instead.
        let factory = try RenditionEncoderFactory(choice: choice, device: device, threadsPerEncoder: 1, globalHeader: false)
        let targets = task.rungs.map {
            RungTarget(rung: LadderRung(height: $0.height, bitrate: max(10_000, Int(Double($0.bitrate) * bitrateFactor))), width: $0.width, height: $0.height)
        }
        let encoder = SegmentEncoder(targets: targets, factory: factory, timeBase: timeBase, frameRate: frameRate, gopSize: frameCount + 1)
        return (try encoder.encode(index: task.index, frames: frames, secondPass: secondPass, onFrame: {}), choice)
    }

    public static func run(_ task: TranscodeTask, alteration: TaskAlteration? = nil) throws -> SegmentTaskResult {
        try task.validate()
        let started = Date()
        let reader = try VideoFrameReader(path: task.source, window: task.window)
        /// The task's frames from `reader`, through the alteration (if any).
        func frames(from reader: VideoFrameReader) -> () throws -> Frame? {
            var decoded = 0
            return {
                while let frame = try reader.next() {
                    decoded += 1
                    guard let filter = alteration?.frameFilter else { return frame }
                    if let kept = try filter(frame, decoded - 1) { return kept }
                }
                return nil
            }
        }
        // A final pass reads the segment file again (opened only if the encoder takes two passes): decoding a
        // segment costs far less than keeping its frames.
        var again: (() throws -> Frame?)?
        let secondPass: () throws -> Frame? = {
            if again == nil { again = frames(from: try VideoFrameReader(path: task.source, window: task.window)) }
            return try again!()
        }
        let (segment, choice) = try encode(task, timeBase: reader.stream.timeBase, frameCount: reader.stream.frameCountHint ?? 600,
                                           bitrateFactor: alteration?.bitrateFactor ?? 1, frames: frames(from: reader),
                                           secondPass: (task.passes ?? 2) == 2 ? secondPass : nil)
        guard segment.frames > 0 else { throw MediaError.noFrames(path: task.source) }
        let folder = URL(fileURLWithPath: task.output)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var renditions: [SegmentTaskResult.Rendition] = []
        for (rung, encoded) in zip(task.rungs, segment.renditions) {
            let path = folder.appendingPathComponent(task.outputFile(for: rung)).path
            let muxer = try Muxer(format: task.codec.container == .mpegts ? "mpegts" : "nut")
            let stream = try muxer.addStream(parameters: encoded.parameters)
            try muxer.open(path: path)
            try muxer.writeHeader()
            for packet in encoded.packets { try muxer.write(packet, stream: stream) }
            try muxer.finish()
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
            renditions.append(.init(rung: rung.name, file: task.outputFile(for: rung), frames: encoded.frames, bytes: bytes, encodeSeconds: encoded.encodeSeconds))
        }
        let result = SegmentTaskResult(index: task.index, frames: segment.frames, encoder: choice.encoderName, family: choice.family.rawValue,
                                       renditions: renditions, decodeErrors: reader.damage, wallSeconds: Date().timeIntervalSince(started))
        let encoderJSON = JSONEncoder()
        encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoderJSON.encode(result).write(to: folder.appendingPathComponent("result.json"))
        return result
    }
}

extension EncodedSegment {
    /// Reads a finished task's rung files back as packets, ready for the ordered HLS writers.
    static func load(task: TranscodeTask, result: SegmentTaskResult, from folder: URL) throws -> EncodedSegment {
        var renditions: [EncodedRendition] = []
        for rung in task.rungs {
            guard let produced = result.renditions.first(where: { $0.rung == rung.name }) else {
                throw TranscodeError.badTask("task \(task.index) produced no \(rung.name) output")
            }
            let demuxer = try Demuxer(path: folder.appendingPathComponent(task.outputFile(for: rung)).path)
            guard let stream = demuxer.bestVideoStream() else { throw MediaError.noVideoStream(path: demuxer.path) }
            let packet = Packet()
            var packets: [Packet] = []
            while try demuxer.read(into: packet) {
                if packet.streamIndex == stream.index { packets.append(try packet.reference()) }
            }
            renditions.append(EncodedRendition(parameters: try CodecParameters(demuxer: demuxer, stream: stream), packets: packets,
                                               frames: packets.count, encodeSeconds: produced.encodeSeconds))
        }
        return EncodedSegment(index: task.index, frames: result.frames, renditions: renditions)
    }
}

/// Where a task file's packets came from (see `TranscodeTask.origin`).
public struct TaskOrigin: Codable, Sendable, Equatable {
    public var path: String
    public var ptsShift: Int64
    public init(path: String, ptsShift: Int64) {
        self.path = path
        self.ptsShift = ptsShift
    }
}
