import Foundation
import PrismTestSupport
import Testing

/// A registry, an honest farmer and an overclaiming one, all real processes on loopback; `prism submit
/// --registry` re-challenges them before its job, leaves the liar out, and the registry shows the outcome.
@Suite(.serialized) struct RechallengeEndToEndTests {
    /// What `GET /v1/farmers` says of a farmer (the fields this test reads).
    struct Standing: Decodable {
        struct Claimed: Decodable { let encoders: [String]; let framesPerSecond: Double }
        struct Measured: Decodable {
            let encoders: [String]?
            let framesPerSecond: Double?
            let uploadBitsPerSecond: Double?
            let downloadBitsPerSecond: Double?
        }
        struct Reputation: Decodable { let claims: String; let challengesPassed: Int; let challengesFailed: Int; let verifiedSegments: Int }
        let id: String
        let url: String
        let claimed: Claimed
        let measured: Measured?
        let findings: [String]?
        let reputation: Reputation
        let lastChallengedAt: Int64?
    }

    struct FarmerList: Decodable { let farmers: [Standing] }

    /// `prism submit --json` with the fields re-challenging adds.
    struct Summary: Decodable {
        struct Tally: Decodable { let url: String; let accepted: Int; let rejected: Int; let claims: String? }
        struct Challenge: Decodable { let farmer: String; let id: String; let passed: Bool; let findings: [String]; let error: String? }
        let segments: Int
        let accepted: Int
        let farmers: [Tally]
        let challenges: [Challenge]
    }

    static func get(_ url: String) throws -> String {
        let result = try HostTool.run("curl", ["-sf", url])
        try #require(result.status == 0, "GET \(url): \(result.stderr)")
        return result.stdout
    }

    static func farmerList(_ registry: LiveServer) throws -> [Standing] {
        try JSONDecoder().decode(FarmerList.self, from: Data(try get(registry.url + "/v1/farmers").utf8)).farmers
    }

    /// The registry page's way of writing a figure: whole numbers without decimals, others with one.
    static func figure(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value) }

    static func submit(_ registry: LiveServer, key: String, output: String, rechallengeMean: String) throws -> (PrismBinary.Result, Summary?) {
        let result = try PrismBinary.run(["submit", Fixtures.path("odd-642x362.mp4"), "-o", output, "--registry", registry.url, "--key", key,
                                          "--rechallenge-mean", rechallengeMean, "--ladder", "360p", "--preset", "veryfast", "--json"])
        return (result, try? JSONDecoder().decode(Summary.self, from: Data(result.stdout.utf8)))
    }

    @Test func submitChallengesDueFarmersLeavesTheLiarOutAndTheRegistryShowsClaimedBesideMeasured() throws {
        let folder = try TemporaryFolder("farm-rechallenge")
        defer { folder.remove() }
        // The registry takes challenge results only from challengers it trusts: this submitter's key.
        let submitterKey = try Farm.key(folder, "submitter")
        let shown = try PrismBinary.run(["keys", "show", submitterKey])
        try #require(shown.status == 0, "\(shown.stderr)")
        let submitterID = shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let registry = try LiveServer(["registry", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + folder.path("registry.sqlite"),
                                       "--trust-challenger", submitterID], timeout: 60)
        defer { registry.stop() }
        // The honest farmer's throughput is injected (one 720p frame a second, far under what it does): its
        // challenge cannot be failed by how loaded this machine is, so every finding below is asserted.
        let honest = try Farm.farmer(folder, "honest", ["--registry", registry.url, "--claim-fps", "1"])
        let liar = try Farm.farmer(folder, "liar", ["--misbehave", "overclaim", "--registry", registry.url])
        defer { [honest, liar].forEach { $0.stop() } }
        // Each farmer announces itself as soon as it listens.
        let deadline = Date().addingTimeInterval(30)
        while try Self.farmerList(registry).count < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        let before = try Self.farmerList(registry)
        try #require(Set(before.map(\.url)) == [honest.url, liar.url], "\(registry.log)")
        #expect(before.allSatisfy { $0.reputation.claims == "unchallenged" && $0.lastChallengedAt == nil })

        // A mean of one second makes every farmer due (and neither was ever challenged).
        let (first, parsed) = try Self.submit(registry, key: submitterKey, output: folder.path("out1"), rechallengeMean: "1s")
        let summary = try #require(parsed, "exit \(first.status): \(first.stderr)")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(Set(summary.challenges.map(\.farmer)) == [honest.url, liar.url], "both farmers challenged: \(summary.challenges)")
        let liarChallenge = try #require(summary.challenges.first { $0.farmer == liar.url })
        let honestChallenge = try #require(summary.challenges.first { $0.farmer == honest.url })
        #expect(!liarChallenge.passed && liarChallenge.error == nil)
        // It claims NVENC and four times its speed: the bitstream, the deadline or the throughput gives it away.
        #expect(liarChallenge.findings.contains { $0.hasPrefix("encoder:") || $0.hasPrefix("throughput:") || $0.hasPrefix("deadline:") },
                "\(liarChallenge.findings)")
        #expect(summary.accepted == summary.segments && summary.segments == 2)
        #expect(honestChallenge.passed && honestChallenge.findings.isEmpty, "\(honestChallenge.findings)")
        #expect(summary.farmers.map(\.url) == [honest.url], "the liar failed and is left out of the job")
        #expect(summary.farmers.first?.claims == "proven")
        #expect(summary.farmers.first?.accepted == summary.segments)

        // The registry stored both results: the liar disproven with its measurements beside its claims.
        let after = try Self.farmerList(registry)
        let liarStanding = try #require(after.first { $0.url == liar.url })
        let honestStanding = try #require(after.first { $0.url == honest.url })
        #expect(liarStanding.reputation.claims == "disproven" && liarStanding.reputation.challengesFailed == 1)
        #expect(liarStanding.lastChallengedAt != nil && honestStanding.lastChallengedAt != nil)
        #expect(liarStanding.claimed.encoders.contains("h264_nvenc"))
        #expect(liarStanding.findings == liarChallenge.findings)
        let measured = try #require(liarStanding.measured)
        #expect((measured.uploadBitsPerSecond ?? 0) > 0 && (measured.downloadBitsPerSecond ?? 0) > 0)
        if let fps = measured.framesPerSecond {
            // It answered in time: slower than it claims, and x264 made its bitstream, not NVENC.
            #expect(fps < liarStanding.claimed.framesPerSecond)
            #expect(measured.encoders == ["libx264"])
        }
        #expect(after.map(\.url) == [honest.url, liar.url], "proven first, disproven last")
        #expect(honestStanding.reputation.claims == "proven")
        #expect(honestStanding.reputation.challengesPassed == 1)
        #expect(honestStanding.reputation.verifiedSegments == summary.segments, "the submitter's verdicts, with their receipts, reached the registry")
        #expect((honestStanding.measured?.framesPerSecond ?? 0) > 0)

        // The page shows the same: claimed / measured per figure, and the claims' status.
        let html = try Self.get(registry.url + "/")
        let liarFPS = Self.figure(liarStanding.claimed.framesPerSecond) + " / " + (measured.framesPerSecond.map(Self.figure) ?? "–")
        #expect(html.contains("<td>\(liarFPS)</td>"), "\(liarFPS) in \(html)")
        #expect(html.contains("<td>– / up \(Self.figure(((measured.uploadBitsPerSecond ?? 0) / 1e6).rounded()))"), "\(html)")
        #expect(html.contains("h264_nvenc") && html.contains("class=\"disproven\""))
        let honestFPS = try #require(honestStanding.measured?.framesPerSecond)
        #expect(html.contains("<td>\(Self.figure(honestStanding.claimed.framesPerSecond)) / \(Self.figure(honestFPS))</td>"), "\(html)")
        #expect(html.contains("class=\"proven\""))

        // A mean of years: both were challenged a moment ago, so nobody is due, and the disproven liar is still
        // kept back as a last resort — it gets a segment only if the honest farmer's was rejected first.
        let (second, parsedAgain) = try Self.submit(registry, key: submitterKey, output: folder.path("out2"), rechallengeMean: "1000d")
        let again = try #require(parsedAgain, "exit \(second.status): \(second.stderr)")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(again.challenges.isEmpty)
        #expect(again.farmers.first { $0.url == liar.url }?.claims == "disproven")
        let honestTally = try #require(again.farmers.first { $0.url == honest.url })
        let liarTally = try #require(again.farmers.first { $0.url == liar.url })
        #expect(honestTally.claims == "proven")
        #expect(liarTally.accepted <= honestTally.rejected, "the liar only takes segments the honest farmer lost")
        #expect(honestTally.accepted + liarTally.accepted == again.segments)
    }
}

/// `prism submit` refusing re-challenge options it cannot use, with exit 2 and one line, before reaching anyone.
@Suite struct RechallengeOptionTests {
    @Test(arguments: [["--rechallenge-mean", "soon"], ["--rechallenge-mean", "-5m"], ["--rechallenge-mean", "10x"], ["--rechallenge-limit", "-1"],
                      ["--max-price", "cheap"], ["--max-price", "-1"], ["--max-price", "0.0000001"]])
    func badRechallengeOptionsExitTwoWithOneLine(_ option: [String]) throws {
        let result = try PrismBinary.run(["submit", Fixtures.path("odd-642x362.mp4"), "-o", "/tmp/prism-unused-\(UUID().uuidString)",
                                          "--registry", "http://127.0.0.1:9"] + option)
        #expect(result.status == 2, "\(option): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(option[0]), "\(result.stderr)")
    }
}
