import CFFmpeg
import Foundation
import Media

/// What happens to one segment's decoded frames: encoded here, or cut into a standalone file and sent
/// off as a `SegmentTask` (to the plain sandbox, or to a farmer).
protocol SegmentProcessor: Sendable {
    func process(index: Int, frames: () throws -> Frame?, onFrame: () -> Void) throws -> EncodedSegment
}

extension SegmentEncoder: SegmentProcessor {
    func process(index: Int, frames: () throws -> Frame?, onFrame: () -> Void) throws -> EncodedSegment {
        try encode(index: index, frames: frames, onFrame: onFrame)
    }
}

/// Runs a task somewhere and returns its result; the rung files are in `task.output` when it returns.
public typealias SegmentTaskExecutor = @Sendable (SegmentTask) throws -> SegmentTaskResult

/// Writes a segment's frames as a standalone lossless file (x264 qp 0): a source segment that starts with
/// a keyframe, decodes to exactly the frames the job decoded, and keeps the job's timestamps.
public struct MezzanineWriter: Sendable {
    static let encoderName = "libx264"
    let width: Int
    let height: Int
    let timeBase: AVRational
    let frameRate: AVRational

    public init(width: Int, height: Int, timeBase: AVRational, frameRate: AVRational) {
        self.width = width
        self.height = height
        self.timeBase = timeBase
        self.frameRate = frameRate
    }

    /// Writes `frames` to `path`; returns how many were written.
    public func write(to path: String, frames nextFrame: () throws -> Frame?, onFrame: () -> Void) throws -> Int {
        var settings = VideoEncoderSettings(encoderName: MezzanineWriter.encoderName, width: width, height: height, timeBase: timeBase, frameRate: frameRate)
        settings.options = ["preset": "ultrafast", "qp": "0"]
        settings.threads = 1
        let encoder = try Encoder(video: settings)
        let scaler = Scaler(width: width, height: height, format: AV_PIX_FMT_YUV420P)
        let muxer = try Muxer(format: "mpegts")
        let stream = try muxer.addStream(from: encoder)
        try muxer.open(path: path)
        try muxer.writeHeader()
        var count = 0
        while let frame = try nextFrame() {
            // Only pixel-format conversion happens here (same size); 8-bit 4:2:0 sources pass through exactly.
            let picture = frame.pixelFormat == AV_PIX_FMT_YUV420P ? frame : try scaler.scale(frame)
            picture.pointer.pointee.pict_type = count == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
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
    let makeTask: @Sendable (_ index: Int, _ source: String, _ output: String) -> SegmentTask
    let executor: SegmentTaskExecutor

    func process(index: Int, frames: () throws -> Frame?, onFrame: () -> Void) throws -> EncodedSegment {
        let folder = workFolder.appendingPathComponent(String(format: "task_%05d", index))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.ts").path
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
