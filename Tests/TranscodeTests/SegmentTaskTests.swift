import Foundation
import Logging
import Media
import PrismTestSupport
import Testing
@testable import Transcode

/// Segment tasks: cut to a lossless mezzanine, transcoded by a separate `prism segment-task` process,
/// read back and written exactly as an in-process ladder is.
@Suite struct SegmentTaskTests {
    /// Runs each task as `prism segment-task --spec` in a child process.
    static let childProcessExecutor: SegmentTaskExecutor = { task in
        let spec = URL(fileURLWithPath: task.output).deletingLastPathComponent().appendingPathComponent("task.json")
        try JSONEncoder().encode(task).write(to: spec)
        let run = try PrismBinary.run(["segment-task", "--spec", spec.path])
        guard run.status == 0 else { throw TranscodeError.badTask("child exited \(run.status): \(run.stderr)") }
        return try JSONDecoder().decode(SegmentTaskResult.self, from: Data(run.stdout.utf8))
    }

    @Test func tasksRunInAnotherProcessMakeTheSameLadderStructure() throws {
        let folder = try TemporaryFolder("tasks")
        defer { folder.remove() }
        var options = TranscodeOptions()
        options.ladder = try Ladder.parse("360p,240p")
        options.preset = "veryfast"
        options.encoder = .software
        options.taskExecutor = Self.childProcessExecutor
        FFmpegLibrary.setLogLevel(verbose: false)
        let output = folder.url.appendingPathComponent("out")
        let report = try LadderTranscoder(input: Fixtures.path("single-keyframe-360p.mp4"), output: output, options: options,
                                          logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })).run()
        #expect(report.segments.map(\.frames) == [50, 50, 50, 50])
        for rung in ["360p", "240p"] {
            let segments = try packetsBySegment(output.appendingPathComponent(rung))
            #expect(segments.count == 4)
            #expect(segments.allSatisfy { $0.first?.key == true && h264NALTypes($0.first!.data).contains(5) })
            let pts = segments.flatMap { $0.map(\.pts) }.sorted()
            #expect(Set(zip(pts.dropFirst(), pts).map { $0 - $1 }) == [3600], "25 fps, continuous across task outputs")
            let decoded = try decodedFrames(output.appendingPathComponent("\(rung)/index.m3u8").path)
            #expect(decoded.frames == 200 && decoded.errors == 0)
        }
    }

    @Test func malformedTaskSpecsAreRefusedWithExitTwo() throws {
        let folder = try TemporaryFolder("task-spec")
        defer { folder.remove() }
        try "{\"index\": 0".write(toFile: folder.path("broken.json"), atomically: true, encoding: .utf8)
        let broken = try PrismBinary.run(["segment-task", "--spec", folder.path("broken.json")])
        #expect(broken.status == 2 && broken.stderr.contains("malformed task spec"))
        var task = TranscodeTask(index: 0, source: Fixtures.path("odd-642x362.mp4"), rungs: [.init(name: "../../etc", width: 64, height: 64, bitrate: 100_000)],
                               codec: .h264, preset: "ultrafast", encoder: .software, frameRate: .init(num: 24, den: 1), output: folder.path("o"))
        try JSONEncoder().encode(task).write(to: URL(fileURLWithPath: folder.path("evil.json")))
        let evil = try PrismBinary.run(["segment-task", "--spec", folder.path("evil.json")])
        #expect(evil.status == 2 && evil.stderr.contains("not HEIGHTp"), "\(evil.stderr)")
        task.rungs = [.init(name: "360p", width: 640, height: 361, bitrate: 100_000)]
        #expect(throws: TranscodeError.self) { try task.validate() }
    }
}

