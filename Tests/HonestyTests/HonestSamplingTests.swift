import Foundation
import Logging
import Media
import PrismTestSupport
import Testing
import Transcode
import Verify

/// An honest farmer is never rejected, whichever frames the submitter's CSPRNG picks: every segment task of a job is
/// run as a farmer runs it and each rendition judged in full at 80 sample draws. (The 642x362 clip's 1 s second
/// segment drew a false `watermark-region` at 9 of 300 draws at 240p and 15 of 300 at 180p: single 8x8 blocks of hard
/// detail 25–60× their texture class's error, flagged in 4–5 of 6 compared frames. Regions that small must now be
/// 10 levels RMS off the source and stand out on the keyframe wherever they can show there, as an overlay does.)
/// The portrait clip (a sky crossed by a pole and wires) at 102x180 drew `blurred-region` at 77 of 100 draws (the
/// encoder smooths the sub-pixel wires away; an encode of the source with the rendition's own settings loses as much
/// there) and at 202x360 `resolution-cheat` at 6 of 80 (52.8 dB, 0.2 dB from the reference: near-transparent).
@Suite struct HonestSamplingTests {
    final class Rejections: @unchecked Sendable {  // unchecked: `list` only under `lock`
        private let lock = NSLock()
        private var list: [String] = []
        private var judged = 0
        func add(_ line: String?) { lock.withLock { judged += 1; if let line { list.append(line) } } }
        var snapshot: (judged: Int, rejected: [String]) { lock.withLock { (judged, list) } }
    }

    @Test(arguments: [("odd-642x362.mp4", "240p,180p", 2), ("vertical-360x640.mp4", "360p,180p", 1)])
    func honestRenditionsPassAtEverySampleDraw(_ clip: String, _ ladder: String, _ segments: Int) throws {
        let folder = try TemporaryFolder("honest-sampling")
        defer { folder.remove() }
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let judge = SegmentVerifier.judge(logger: logger)
        let rejections = Rejections()
        let draws: UInt64 = 80
        var options = TranscodeOptions()
        options.ladder = try Ladder.parse(ladder)
        options.preset = "veryfast"
        options.encoder = .software
        options.taskExecutor = { task in
            let result = try SegmentTaskRunner.run(task, alteration: nil)
            let shared = SourceFrames(path: task.source)
            for rung in task.rungs {
                for seed in 0..<draws {
                    var request = VerificationRequest(source: task.source,
                                                      rendition: URL(fileURLWithPath: task.output).appendingPathComponent(task.outputFile(for: rung)).path)
                    request.sourceWindow = task.window
                    request.width = rung.width
                    request.height = rung.height
                    request.bitrate = rung.bitrate
                    request.codec = task.codec.rawValue
                    request.sharedSource = shared
                    request.seed = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(task.index)
                    let judgement = try judge(request)
                    rejections.add(judgement.accepted ? nil : "segment \(task.index) \(rung.name) draw \(seed): \(judgement.reasons.map(\.rawValue))")
                }
            }
            return result
        }
        FFmpegLibrary.setLogLevel(verbose: false)
        _ = try LadderTranscoder(input: Fixtures.path(clip), output: folder.url.appendingPathComponent("out"), options: options, logger: logger).run()
        let (judged, rejected) = rejections.snapshot
        #expect(judged >= Int(draws) * 2 * segments, "every rung of every segment judged: \(judged)")
        #expect(rejected.isEmpty, "\(rejected.count) of \(judged) honest judgements rejected: \(rejected.prefix(8))")
    }
}
