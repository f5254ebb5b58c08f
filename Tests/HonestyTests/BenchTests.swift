import Foundation
import Honesty
import Media
import PrismTestSupport
import Testing

@Suite struct SyntheticClipTests {
    @Test func theSameSeedGivesTheSameClipAndAnotherSeedAnother() throws {
        func lumaSum(_ seed: UInt64) throws -> (Int, Int) {
            let clip = try SyntheticClip(width: 160, height: 90, frameRate: 30, seconds: 0.2, seed: seed)
            var sum = 0, frames = 0
            while let frame = try clip.next() {
                frames += 1
                let base = frame.planeBase(0)!
                for row in 0..<frame.height { for column in 0..<frame.width { sum += Int(base[row * frame.lineSize(0) + column]) } }
            }
            return (sum, frames)
        }
        let first = try lumaSum(42), again = try lumaSum(42), other = try lumaSum(43)
        #expect(first.1 == 6)
        #expect(first.0 == again.0)
        #expect(first.0 != other.0)
    }
}

@Suite struct BenchCommandTests {
    @Test func benchReportsWhatOpensHereWithSpeedsAndRefusesWhatDoesNot() throws {
        let result = try PrismBinary.run(["bench", "--encoders", "h264", "--seconds", "0.5", "--max-sessions", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(result.stdout.utf8))
        let x264 = try #require(report.encoders.first { $0.encoder == "libx264" })
        #expect(x264.opens)
        #expect(x264.rungs.map(\.rung) == ["1080p", "720p", "480p", "360p", "240p"])
        #expect(x264.rungs.allSatisfy { $0.fps > 0 && $0.frames == 15 })
        // Smaller rungs encode faster: the measurement is real, not a table.
        #expect(x264.rungs.last!.fps > x264.rungs.first!.fps)
        // No GPU on this kind of host: NVENC must be reported as not opening, with FFmpeg's reason.
        if !FileManager.default.fileExists(atPath: "/dev/nvidia0") {
            let nvenc = try #require(report.encoders.first { $0.encoder == "h264_nvenc" })
            #expect(!nvenc.opens && !(nvenc.reason ?? "").isEmpty)
        }
        let sessions = try #require(report.sessions)
        #expect(sessions.encoder == "libx264" && !sessions.trials.isEmpty)
        #expect(sessions.capacity == sessions.trials.filter(\.withinDeadline).count)
    }

    @Test func unknownEncodersAndBadOptionsExitTwo() throws {
        let unknown = try PrismBinary.run(["bench", "--encoders", "magic264"])
        #expect(unknown.status == 2 && unknown.stderr.contains("magic264"))
        let seconds = try PrismBinary.run(["bench", "--seconds", "100"])
        #expect(seconds.status == 2 && seconds.stderr.contains("--seconds"))
    }
}
