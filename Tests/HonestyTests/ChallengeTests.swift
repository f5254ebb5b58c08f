import Foundation
import Honesty
import PrismTestSupport
import Testing

/// `prism challenge` against real farmer processes on loopback.
@Suite(.serialized) struct ChallengeTests {
    static func farmer(_ folder: TemporaryFolder, _ name: String, _ extra: [String] = []) throws -> LiveServer {
        let key = folder.path("\(name).key")
        try #require(try PrismBinary.run(["keys", "generate", "--out", key]).status == 0)
        return try LiveServer(["farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", folder.path("data-\(name)"), "--sessions", "1"]
                              + (HostTool.exists("bwrap") ? [] : ["--sandbox", "none"]) + extra)
    }

    static func challenge(_ farmer: LiveServer) throws -> (Int32, ChallengeReport) {
        let result = try PrismBinary.run(["challenge", farmer.url, "--json"])
        let report = try JSONDecoder().decode(ChallengeReport.self, from: Data(result.stdout.utf8))
        return (result.status, report)
    }

    /// `prism challenge` of a real farmer process whose claim is injected (`--claim-fps`, one 720p frame a second,
    /// far under what it does), so nothing about this machine's load can fail it: every finding is asserted.
    /// (The lies, throughput included, are caught with the throughput injected in-process: InProcessChallengeTests.)
    @Test func anHonestFarmersClaimsHoldUp() throws {
        let folder = try TemporaryFolder("challenge-honest")
        defer { folder.remove() }
        let farmer = try Self.farmer(folder, "honest", ["--claim-fps", "1"])
        defer { farmer.stop() }
        let (status, report) = try Self.challenge(farmer)
        #expect(status == 0 && report.passed && report.findings.isEmpty, "\(report.findings)")
        #expect((report.measured.uploadBitsPerSecond ?? 0) > 0 && (report.measured.downloadBitsPerSecond ?? 0) > 0)
        #expect(report.measured.encoderInBitstream == "libx264" && report.measured.encoderInReceipt == "libx264")
        #expect((report.measured.roundTripSeconds ?? .infinity) < report.measured.deadlineSeconds)
        #expect((report.measured.framesPerSecond ?? 0) > 1, "it does more than the one frame a second it claims")
    }

    @Test func aFarmerUsingAnotherEncoderThanItClaimsIsCaughtByTheBitstream() throws {
        let folder = try TemporaryFolder("challenge-encoder")
        defer { folder.remove() }
        // Sessions 1 and a generous claim (its own measurement) keep the deadline out of it: only the encoder lie shows.
        let farmer = try Self.farmer(folder, "swapper", ["--misbehave", "overclaim"])
        defer { farmer.stop() }
        let result = try PrismBinary.run(["challenge", farmer.url, "--json", "--deadline-factor", "20"])
        let report = try JSONDecoder().decode(ChallengeReport.self, from: Data(result.stdout.utf8))
        #expect(result.status == 1 && !report.passed)
        #expect(report.claimed.encoders.contains("h264_nvenc"))
        #expect(report.measured.encoderInReceipt == "h264_nvenc" && report.measured.encoderInBitstream == "libx264", "\(report.findings)")
        #expect(report.findings.contains { $0.hasPrefix("encoder:") && $0.contains("x264 - core") })
    }

    @Test func aFarmerThatAnswersLateFailsOnTheDeadline() throws {
        let folder = try TemporaryFolder("challenge-late")
        defer { folder.remove() }
        let farmer = try Self.farmer(folder, "late", ["--misbehave", "stall"])
        defer { farmer.stop(kill: true) }
        let (status, report) = try Self.challenge(farmer)
        #expect(status == 1)
        #expect(report.findings.contains { $0.hasPrefix("deadline:") }, "\(report.findings)")
    }

    @Test func fingerprintsNameX264AndX265FromTheirOwnMarks() throws {
        let folder = try TemporaryFolder("fingerprint")
        defer { folder.remove() }
        for (encoder, name) in [("libx264", "libx264"), ("libx265", "libx265"), ("libvpx-vp9", nil)] as [(String, String?)] {
            let file = folder.path("\(encoder).mkv")
            let made = try HostTool.run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=0.5", "-c:v", encoder, file])
            try #require(made.status == 0, "\(made.stderr)")
            let found = BitstreamFingerprint.identify(try Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(found.encoder == name, "\(encoder)")
            if let name { #expect(!BitstreamFingerprint.contradicts(found, named: name)) }
        }
    }
}
