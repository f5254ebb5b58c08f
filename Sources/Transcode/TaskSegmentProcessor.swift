import Foundation
import Media
import Synchronization

/// What happens to one segment's decoded frames: encoded here, or cut into a standalone file and sent
/// off as a `TranscodeTask` (to the plain sandbox, or to a farmer).
protocol SegmentProcessor: Sendable {
    /// `secondPass`, when given, yields the segment's frames again for an encoder that takes two passes.
    func process(index: Int, frames: () throws -> Frame?, secondPass: (() throws -> Frame?)?, onFrame: () -> Void) throws -> EncodedSegment
}

extension SegmentEncoder: SegmentProcessor {
    func process(index: Int, frames: () throws -> Frame?, secondPass: (() throws -> Frame?)?, onFrame: () -> Void) throws -> EncodedSegment {
        try encode(index: index, frames: frames, secondPass: secondPass, onFrame: onFrame)
    }
}

/// Runs a task somewhere and returns its result; the rung files are in `task.output` when it returns.
public typealias SegmentTaskExecutor = @Sendable (TranscodeTask) throws -> SegmentTaskResult

/// Lets a task executor hand in a new result for a segment it already returned (a submitter whose farmer was
/// caught cheating on a later segment redoes its earlier ones); the transcoder rewrites that segment's files.
public final class SegmentReplacement: Sendable {
    private let handler = Mutex<(@Sendable (TranscodeTask, SegmentTaskResult) throws -> Void)?>(nil)

    public init() {}

    func install(_ handler: @escaping @Sendable (TranscodeTask, SegmentTaskResult) throws -> Void) {
        self.handler.withLock { $0 = handler }
    }

    /// Replaces segment `task.index` with `result` (rung files in `task.output`).
    public func replace(_ task: TranscodeTask, with result: SegmentTaskResult) throws {
        guard let handler = handler.withLock({ $0 }) else {
            throw TranscodeError.badTask("segment \(task.index) cannot be replaced: no transcode is running")
        }
        try handler(task, result)
    }
}

/// Writes a segment's frames as a standalone high-quality file (x264 veryfast CRF 16, not lossless: a lossless
/// mezzanine was 30–70× the source's bytes): a source segment that starts with a keyframe, decodes to as many
/// frames as it was given, and keeps the job's timestamps. Used only where the source's own packets cannot be sent.
public struct MezzanineWriter: Sendable {
    static let encoderName = "libx264"
    static let options = ["preset": "veryfast", "crf": "16"]
    let width: Int
    let height: Int
    let timeBase: Rational
    let frameRate: Rational

    public init(width: Int, height: Int, timeBase: Rational, frameRate: Rational) {
        self.width = width
        self.height = height
        self.timeBase = timeBase
        self.frameRate = frameRate
    }

    /// Writes `frames` to `path`; returns how many were written.
    public func write(to path: String, frames nextFrame: () throws -> Frame?, onFrame: () -> Void) throws -> Int {
        var settings = VideoEncoderSettings(encoderName: MezzanineWriter.encoderName, width: width, height: height, timeBase: timeBase, frameRate: frameRate)
        settings.options = MezzanineWriter.options
        settings.threads = 1
        let encoder = try Encoder(video: settings)
        let scaler = Scaler(width: width, height: height, format: PixelFormat.yuv420p)
        let muxer = try Muxer(format: "mpegts")
        let stream = try muxer.addStream(from: encoder)
        try muxer.open(path: path)
        try muxer.writeHeader()
        var count = 0
        while let frame = try nextFrame() {
            // Only pixel-format conversion happens here (same size); 8-bit 4:2:0 sources pass through exactly.
            let picture = frame.pixelFormat == PixelFormat.yuv420p ? frame : try scaler.scale(frame)
            picture.requestKeyframe(count == 0)
            for packet in try encoder.encode(picture) { try muxer.write(packet, stream: stream) }
            count += 1
            onFrame()
        }
        for packet in try encoder.encode(nil) { try muxer.write(packet, stream: stream) }
        try muxer.finish()
        return count
    }
}

/// Cuts each segment into a mezzanine file, runs it as a task through `executor`, and reads the rung
/// files back for the ordered writers.
struct TaskSegmentProcessor: SegmentProcessor {
    let mezzanine: MezzanineWriter
    let workFolder: URL
    let makeTask: @Sendable (_ index: Int, _ source: String, _ output: String) -> TranscodeTask
    let executor: SegmentTaskExecutor
    /// The frames are written once, to the mezzanine (`secondPass` is not used): whoever runs the task makes its passes
    /// from that file.
    func process(index: Int, frames: () throws -> Frame?, secondPass: (() throws -> Frame?)?, onFrame: () -> Void) throws -> EncodedSegment {
        let folder = workFolder.appendingPathComponent(String(format: "task_%05d", index))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.media").path
        let output = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let written = try mezzanine.write(to: source, frames: frames, onFrame: onFrame)
        let task = makeTask(index, source, output.path)
        let result = try executor(task)
        guard result.frames == written else {
            throw TranscodeError.badTask("task \(index) returned \(result.frames) frames for a \(written)-frame segment")
        }
        return try EncodedSegment.load(task: task, result: result, from: output)
    }
}
