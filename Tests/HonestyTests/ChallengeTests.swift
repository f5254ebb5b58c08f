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

    static func loadAverage() -> Double {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)).flatMap { Double($0.split(separator: " ")[0]) } ?? 0
    }

    @Test func anHonestFarmersClaimsHoldUpOnThisLoadedMachine() throws {
        let folder = try TemporaryFolder("challenge-honest")
        defer { folder.remove() }
        let farmer = try Self.farmer(folder, "honest")
        defer { farmer.stop() }
        let before = Self.loadAverage()
        let (_, report) = try Self.challenge(farmer)
        // The claims: encoder, throughput, deadline and bandwidth findings would be accusations.
        var accusations = report.findings.filter { !$0.hasPrefix("verification:") }
        // Speed is judged with slack, but a machine loaded past twice its cores (the whole suite running beside
        // this test) can slow an honest farmer past it: then throughput and deadline findings are reported, not
        // asserted (the load average is read before and after, since the challenge itself takes seconds).
        let loaded = Self.loadAverage() > Double(ProcessInfo.processInfo.activeProcessorCount * 2) || before > Double(ProcessInfo.processInfo.activeProcessorCount * 2)
        let late = accusations.contains { $0.hasPrefix("deadline:") }
        if loaded {
            let slow = accusations.filter { $0.hasPrefix("throughput:") || $0.hasPrefix("deadline:") }
            if !slow.isEmpty { print("load average \(Self.loadAverage()): not asserting \(slow)") }
            accusations.removeAll { $0.hasPrefix("throughput:") || $0.hasPrefix("deadline:") }
        }
        #expect(accusations.isEmpty, "\(report.findings)")
        #expect((report.measured.uploadBitsPerSecond ?? 0) > 0 && (report.measured.downloadBitsPerSecond ?? 0) > 0)
        if !(loaded && late) {
            #expect(report.measured.encoderInBitstream == "libx264" && report.measured.encoderInReceipt == "libx264")
            #expect((report.measured.roundTripSeconds ?? .infinity) < report.measured.deadlineSeconds)
        }
        if !report.findings.isEmpty { print("verifier findings on the synthetic clip: \(report.findings)") }
    }

    @Test func anOverclaimingFarmerFailsOnItsEncoderAndItsThroughput() throws {
        let folder = try TemporaryFolder("challenge-overclaim")
        defer { folder.remove() }
        // The farmer benchmarks itself as it starts; a machine loaded past twice its cores then (the whole suite
        // beside this test) makes that figure, and so the fourfold claim, too low to be caught later.
        let loadedAtStart = Self.loadAverage() > Double(ProcessInfo.processInfo.activeProcessorCount * 2)
        let farmer = try Self.farmer(folder, "liar", ["--misbehave", "overclaim"])
        defer { farmer.stop() }
        let (status, report) = try Self.challenge(farmer)
        #expect(status == 1 && !report.passed)
        #expect(report.claimed.encoders.contains("h264_nvenc"))
        // Four times its real speed claimed: the work it is given cannot come back in time, or comes back too slowly.
        let slow = report.findings.contains { $0.hasPrefix("throughput:") || $0.hasPrefix("deadline:") }
        if loadedAtStart && !slow {
            print("load average past twice the cores while the liar benchmarked itself: not asserting a speed finding (\(report.findings))")
        } else {
            #expect(slow, "\(report.findings)")
        }
        // When it does answer, it names nvenc in its receipt but the bitstream carries x264's signature.
        if report.measured.encoderInReceipt != nil {
            #expect(report.measured.encoderInReceipt == "h264_nvenc" && report.measured.encoderInBitstream == "libx264")
            #expect(report.findings.contains { $0.hasPrefix("encoder:") && $0.contains("x264 - core") }, "\(report.findings)")
        }
    }

    @Test func aFarmerUsingAnotherEncoderThanItClaimsIsCaughtByTheBitstream() throws {
        let folder = try TemporaryFolder("challenge-encoder")
        defer { folder.remove() }
        // Sessions 1 and a generous claim (its own measurement) keep the deadline out of it: only the encoder lie shows.
        let farmer = try Self.farmer(folder, "swapper", ["--misbehave", "overclaim"])
        defer { farmer.stop() }
        let result = try PrismBinary.run(["challenge", farmer.url, "--json", "--deadline-factor", "20"])
        let report = try JSONDecoder().decode(ChallengeReport.self, from: Data(result.stdout.utf8))
        #expect(result.status == 1)
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
