import Foundation
import PrismTestSupport
import Testing

/// A farm on loopback: real farmer processes (tasks in the plain sandbox), a real submit.
enum Farm {
    static func key(_ folder: TemporaryFolder, _ name: String) throws -> String {
        let path = folder.path("\(name).key")
        let result = try PrismBinary.run(["keys", "generate", "--out", path])
        try #require(result.status == 0, "\(result.stderr)")
        return path
    }

    static func farmer(_ folder: TemporaryFolder, _ name: String, _ extra: [String] = []) throws -> LiveServer {
        try LiveServer(["farmer", "serve", "--listen", "127.0.0.1:0", "--key", try key(folder, name), "--data", folder.path("data-\(name)"),
                        "--sessions", "1"] + (HostTool.exists("bwrap") ? [] : ["--sandbox", "none"]) + extra)
    }

    struct Summary: Decodable {
        struct Tally: Decodable { let url: String; let id: String; let accepted: Int; let rejected: Int; let failed: Int; let dropped: Bool }
        struct Rejection: Decodable { let segment: Int; let farmer: String; let url: String; let reasons: [String] }
        let segments: Int
        let renditions: Int
        let accepted: Int
        let retried: Int
        let resumed: Int
        let farmers: [Tally]
        let rejections: [Rejection]
        let spent: Int64?
    }

    static func submit(_ input: String, to farmers: [LiveServer], output: String, extra: [String] = []) throws -> (PrismBinary.Result, Summary?) {
        let result = try PrismBinary.run(["submit", input, "-o", output, "--farmers", farmers.map(\.url).joined(separator: ","),
                                          "--ladder", "360p,240p", "--preset", "veryfast", "--json", "-q"] + extra)
        return (result, try? JSONDecoder().decode(Summary.self, from: Data(result.stdout.utf8)))
    }
}

@Suite(.serialized) struct FarmEndToEndTests {
    /// What `prism earnings --json` prints (the fields read here).
    struct Earnings: Decodable {
        struct Statement: Decodable {
            struct Entry: Decodable { let pixels: Int64; let price: Int64; let amount: Int64; let verdict: String }
            let balance: Int64
            let pixels: Int64
            let entries: [Entry]
        }
        let statement: Statement
        let signer: String
        let signatureChecked: Bool
    }

    static func earnings(_ registry: LiveServer, key: String, registryID: String) throws -> Earnings {
        let result = try PrismBinary.run(["earnings", "--registry", registry.url, "--key", key, "--registry-id", registryID, "--json"])
        try #require(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(Earnings.self, from: Data(result.stdout.utf8))
    }

    @Test func threeFarmersOneWatermarkingEverySegmentDeliveredTheCheatsRedoneAndOnlyTheHonestPaid() throws {
        let folder = try TemporaryFolder("farm-e2e")
        defer { folder.remove() }
        // A registry keeps the ledger, signing statements with its own key; the submitter reports its verdicts to it.
        let registryKey = try Farm.key(folder, "registry")
        let registryID = try PrismBinary.run(["keys", "show", registryKey]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let registry = try LiveServer(["registry", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + folder.path("registry.sqlite"),
                                       "--key", registryKey, "-q"], timeout: 60)
        defer { registry.stop() }
        // The cheat is the cheapest, so among farmers of equal standing it is offered work first.
        let cheat = try Farm.farmer(folder, "cheat", ["--misbehave", "watermark", "--price", "0.01/megapixel"])
        let honestA = try Farm.farmer(folder, "a", ["--price", "0.02/megapixel"]), honestB = try Farm.farmer(folder, "b", ["--price", "0.03"])
        defer { [cheat, honestA, honestB].forEach { $0.stop() } }
        let submitterKey = try Farm.key(folder, "submitter")
        // Nobody asks as little as 0.005 a megapixel: refused with one line before any work.
        let (tooCheap, _) = try Farm.submit(Fixtures.path("pan-720p.mp4"), to: [honestB, honestA, cheat], output: folder.path("unused"),
                                            extra: ["--max-price", "0.005"])
        #expect(tooCheap.status == 2 && tooCheap.stderr.contains("no farmer asks at most 0.005"), "\(tooCheap.stderr)")
        // One error line (the cheat's announced misbehaviour is warned about as its capabilities are read).
        #expect(tooCheap.stderr.split(separator: "\n").filter { !$0.hasPrefix("prism: warning:") }.count == 1, "\(tooCheap.stderr)")
        let (result, parsed) = try Farm.submit(Fixtures.path("pan-720p.mp4"), to: [honestB, honestA, cheat], output: folder.path("out"),
                                               extra: ["--registry", registry.url, "--key", submitterKey, "--max-price", "0.05"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        #expect(summary.segments == 3 && summary.accepted == 3 && summary.renditions == 2)
        let cheatTally = try #require(summary.farmers.first { $0.url == cheat.url })
        #expect(cheatTally.accepted == 0 && cheatTally.rejected >= 1, "every cheat rendition rejected")
        #expect(summary.retried >= cheatTally.rejected)
        #expect(!summary.rejections.isEmpty && summary.rejections.allSatisfy { $0.url == cheat.url && $0.reasons.contains("watermark-region") })
        #expect(summary.farmers.filter { $0.url != cheat.url }.map(\.accepted).reduce(0, +) == 3)
        // The delivered ladder is accepted by prism verify against the whole source, sampled as a submitter samples,
        // at several reproducible draws.
        var deliveredPixels: Int64 = 0
        for (rung, width, height, bitrate) in [("360p", 640, 360, 800_000), ("240p", 426, 240, 250_000)] {
            for seed in 1...4 {
                let verified = try PrismBinary.run(["verify", "--source", Fixtures.path("pan-720p.mp4"), "--rendition", folder.path("out/\(rung)/index.m3u8"),
                                                    "--width", String(width), "--height", String(height), "--bitrate", String(bitrate), "--codec", "h264",
                                                    "--seed", String(seed), "--json"])
                #expect(verified.status == 0, "\(rung), seed \(seed): \(verified.stdout.prefix(400))")
            }
            deliveredPixels += try Farm.decodedFrames(folder.path("out/\(rung)/index.m3u8")) * Int64(width) * Int64(height)
        }

        // The ledger: each honest farmer is credited, entry by entry, the pixels of its accepted receipts at its price; the
        // cheat earns nothing; together the honest farmers were paid for exactly the pixels delivered, and the submitter is
        // debited what they were credited. Every statement's signature is checked by `prism earnings`.
        var credited: Int64 = 0, paidPixels: Int64 = 0
        for (farmer, name, price) in [(honestA, "a", Int64(20_000)), (honestB, "b", Int64(30_000))] {
            let earned = try Self.earnings(registry, key: folder.path("\(name).key"), registryID: registryID)
            #expect(earned.signatureChecked && earned.signer == registryID)
            let statement = earned.statement
            #expect(statement.entries.allSatisfy { $0.verdict == "accepted" && $0.price == price && $0.amount == $0.pixels * price / 1_000_000 },
                    "\(name): \(statement.entries)")
            #expect(statement.balance == statement.entries.reduce(0) { $0 + $1.amount })
            let tally = try #require(summary.farmers.first { $0.url == farmer.url })
            #expect(Int64(statement.entries.count) == Int64(tally.accepted), "\(name): one payment per accepted segment")
            credited += statement.balance
            paidPixels += statement.pixels
        }
        #expect(credited > 0)
        #expect(paidPixels == deliveredPixels, "paid for \(paidPixels) pixels, delivered \(deliveredPixels)")
        let cheatEarned = try Self.earnings(registry, key: folder.path("cheat.key"), registryID: registryID).statement
        #expect(cheatEarned.balance == 0 && cheatEarned.pixels == 0, "the watermarking farmer earns nothing: \(cheatEarned.entries)")
        let spent = try Self.earnings(registry, key: submitterKey, registryID: registryID).statement
        #expect(spent.balance == -credited, "the submitter is debited what the farmers were credited")
        #expect(summary.spent == credited, "submit --json reports what the registry charged")
    }

    @Test func aStallingFarmerTimesOutAndAKilledFarmerIsDroppedWithNoSegmentLost() throws {
        let folder = try TemporaryFolder("farm-faults")
        defer { folder.remove() }
        let staller = try Farm.farmer(folder, "staller", ["--misbehave", "stall"])
        let victim = try Farm.farmer(folder, "victim")
        let honest = try Farm.farmer(folder, "honest"), spare = try Farm.farmer(folder, "spare")
        // A stalled request never ends, so a graceful stop would wait for it: kill.
        defer { [staller, victim, honest, spare].forEach { $0.stop(kill: true) } }
        // Kill one farmer outright while the job runs.
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { victim.stop(kill: true) }
        let (result, parsed) = try Farm.submit(Fixtures.path("single-keyframe-360p.mp4"), to: [staller, victim, honest, spare], output: folder.path("out"),
                                               extra: ["--task-timeout", "30"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        #expect(summary.segments == 4 && summary.accepted == 4)
        let stalled = try #require(summary.farmers.first { $0.url == staller.url })
        #expect(stalled.accepted == 0 && stalled.dropped, "the staller is dropped after its timeout")
        let frames = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
                                                  "-of", "csv=p=0", folder.path("out/360p/index.m3u8")])
        // FFprobe lists an HLS stream once under its program and once alone: every count must be 200.
        #expect(frames.stdout.split(separator: "\n").map(String.init) .allSatisfy { $0 == "200" })
    }

    @Test func aRestartedFarmerStillServesItsFinishedResults() throws {
        let folder = try TemporaryFolder("farm-restart")
        defer { folder.remove() }
        let key = try Farm.key(folder, "steady")
        let arguments = ["farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", folder.path("data"), "--sessions", "2"]
            + (HostTool.exists("bwrap") ? [] : ["--sandbox", "none"])
        let first = try LiveServer(arguments)
        let submitterKey = try Farm.key(folder, "submitter")
        let (run1, _) = try Farm.submit(Fixtures.path("odd-642x362.mp4"), to: [first], output: folder.path("out1"), extra: ["--key", submitterKey])
        #expect(run1.status == 0, "\(run1.stderr)")
        first.stop()
        let second = try LiveServer(arguments)
        defer { second.stop() }
        let (run2, parsed) = try Farm.submit(Fixtures.path("odd-642x362.mp4"), to: [second], output: folder.path("out2"), extra: ["--key", submitterKey])
        #expect(run2.status == 0, "\(run2.stderr)")
        #expect(parsed?.accepted == 2)
        // Served from disk: the restarted farmer ran no task of its own.
        let metrics = try HostTool.run("curl", ["-s", second.url + "/metrics"])
        #expect(metrics.stdout.contains("prism_farmer_tasks_total{outcome=\"completed\"} 0"), "\(metrics.stdout)")
    }
}

@Suite struct SubmitResumeTests {
    @Test func aKilledSubmitRerunResumesWithoutResendingVerifiedSegments() throws {
        let folder = try TemporaryFolder("farm-resume")
        defer { folder.remove() }
        // Two farmers, so that a verifier's false rejection (issue 3) moves a segment instead of failing the job.
        let farmer = try Farm.farmer(folder, "worker"), spare = try Farm.farmer(folder, "spare")
        defer { farmer.stop(); spare.stop() }
        let key = try Farm.key(folder, "submitter")
        let output = folder.path("out")
        let arguments = ["submit", Fixtures.path("single-keyframe-360p.mp4"), "-o", output, "--farmers", "\(farmer.url),\(spare.url)", "--key", key,
                         "--ladder", "360p,240p", "--preset", "veryfast", "--json", "-q"]
        let first = Process()
        first.executableURL = PrismBinary.url
        first.arguments = arguments
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        // Kill it as soon as the journal holds one verified segment.
        let journal = folder.url.appendingPathComponent(".out.prism-journal")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: journal.path)) ?? []
            // A segment's folder appears when its files are being copied; its row follows within milliseconds.
            if entries.contains(where: { $0.count == 64 }) { Thread.sleep(forTimeInterval: 1); break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: output + "/master.m3u8"), "a killed run leaves no finished-looking output")

        let second = try PrismBinary.run(arguments)
        #expect(second.status == 0, "\(second.stderr)")
        let summary = try JSONDecoder().decode(Farm.Summary.self, from: Data(second.stdout.utf8))
        #expect(summary.accepted == 4)
        #expect(summary.resumed >= 1, "verified segments come from the journal")
        #expect(!FileManager.default.fileExists(atPath: journal.path), "the journal is removed once the job completes")
        let frames = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
                                                  "-of", "csv=p=0", output + "/240p/index.m3u8"])
        // FFprobe lists an HLS stream once under its program and once alone: every count must be 200.
        #expect(frames.stdout.split(separator: "\n").map(String.init) .allSatisfy { $0 == "200" })
    }
}

extension Farm {
    /// Frames of an HLS rendition, counted by ffprobe decoding it.
    static func decodedFrames(_ playlist: String) throws -> Int64 {
        let probed = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
                                                  "-of", "csv=p=0", playlist])
        return try #require(probed.stdout.split(separator: "\n").first.flatMap { Int64($0) }, "\(probed.stderr)")
    }
}
