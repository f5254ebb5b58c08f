import Foundation
import PrismTestSupport
import Testing
@testable import Transcode

@Suite(.enabled(if: HostTool.exists("bwrap"), "needs bubblewrap for the plain sandbox"))
struct SandboxedTranscodeTests {
    @Test func transcodeWithThePlainSandboxRunsEverySegmentAsATaskAndMakesTheSameLadder() throws {
        let folder = try TemporaryFolder("sandboxed")
        defer { folder.remove() }
        let output = folder.path("out")
        let result = try PrismBinary.run(["transcode", Fixtures.path("odd-642x362.mp4"), "-o", output, "--sandbox", "plain",
                                          "--ladder", "360p,240p", "--preset", "veryfast", "--encoder", "software", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("plain sandbox"))
        let report = try JSONDecoder().decode(TranscodeReport.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/report.json")))
        #expect(report.segments.map(\.frames) == [48, 24])
        for rung in ["360p", "240p"] {
            let decoded = try decodedFrames(output + "/\(rung)/index.m3u8")
            #expect(decoded.frames == 72 && decoded.errors == 0)
            let segments = try packetsBySegment(URL(fileURLWithPath: output + "/\(rung)"))
            #expect(segments.allSatisfy { $0.first?.key == true })
        }
    }

    @Test func anUnknownSandboxIsRefused() throws {
        let result = try PrismBinary.run(["transcode", Fixtures.path("odd-642x362.mp4"), "-o", "/tmp/never", "--sandbox", "docker"])
        #expect(result.status == 2 && result.stderr.contains("unknown sandbox 'docker'"))
    }
}
