import Foundation
import HummingbirdTesting
import NIOCore
import PrismTestSupport
import Registry
import SQLiteNIO
import Testing
import Wire

/// The attacks of a participant on the registry, made for real: signed envelopes from fresh keys, extreme numbers,
/// stored rows an older registry let in, random bodies over a real socket.
@Suite struct HostileRegistryTests {
    let clock = ManualClock()
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder("prism-hostile-registry") }

    func openStore() async throws -> SQLiteRegistryStore { try await openSQLiteStore(in: folder) }

    func execute(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        let connection = try await SQLiteConnection.open(storage: .file(path: folder.path("registry.sqlite")))
        _ = try await connection.query(sql, binds)
        try await connection.close()
    }

    @Test func standingCannotBeBoughtWithFreshKeys() async throws {
        defer { folder.remove() }
        let farmer = TestParty(), rival = TestParty(), submitter = TestParty(), trusted = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [trusted]) { client in
            for party in [farmer, rival] {
                #expect(try await client.post(WirePath.heartbeats, try party.signed(party.announcement(), path: WirePath.heartbeats, at: clock.now)).status == .ok)
            }
            // A fresh key's failed challenge of the farmer, and the farmer's own second key proving it with a GPU.
            let smear = TestParty(), sockPuppet = TestParty()
            let failed = ChallengeResult(challenger: smear.id, farmer: farmer.id, passed: false, claimed: CapabilityFigures(framesPerSecond: 240),
                                         measured: CapabilityFigures(framesPerSecond: 1), findings: ["throughput: made up"])
            let boast = ChallengeResult(challenger: sockPuppet.id, farmer: farmer.id, passed: true,
                                        claimed: CapabilityFigures(encoders: ["h264_nvenc"], framesPerSecond: 9999),
                                        measured: CapabilityFigures(encoders: ["h264_nvenc"], framesPerSecond: 9999))
            for (party, result) in [(smear, failed), (sockPuppet, boast)] {
                let reply = try await client.post(WirePath.challenges, try party.signed(result, path: WirePath.challenges, at: clock.now))
                #expect(reply.status == .forbidden && reply.json["error"] as? String == "untrusted-challenger", "\(reply)")
            }
            // Twenty throwaway submitters reject the farmer's work: with no receipt, with one they signed themselves,
            // with the farmer's real receipt for someone else's task, and naming another segment.
            let someoneElse = TestParty()
            for index in 0..<20 {
                let fake = TestParty()
                var verdict = Verdict(submitter: fake.id, farmer: farmer.id, segment: Segment.address("v\(index)"), accepted: false, reasons: ["watermark-region"])
                switch index % 4 {
                case 0: break
                case 1:
                    let forged = try fake.provenVerdict(by: fake, segment: verdict.segment, accepted: false, at: clock.now)
                    (verdict.task, verdict.receipt) = (forged.task, forged.receipt)
                case 2:
                    let real = try farmer.provenVerdict(by: someoneElse, segment: verdict.segment, accepted: false, at: clock.now)
                    (verdict.task, verdict.receipt) = (real.task, real.receipt)
                default:
                    let real = try farmer.provenVerdict(by: fake, segment: Segment.address("other"), accepted: false, at: clock.now)
                    (verdict.task, verdict.receipt) = (real.task, real.receipt)
                }
                let reply = try await client.post(WirePath.verdicts, try fake.signed(verdict, path: WirePath.verdicts, at: clock.now))
                #expect(reply.status == .unprocessableContent && reply.json["error"] as? String == "unproven-verdict", "\(index): \(reply)")
            }
            // A receipt older than a day proves nothing now.
            let stale = try farmer.provenVerdict(by: submitter, segment: Segment.address("old"), accepted: false, at: clock.now - 2 * 86400)
            #expect(try await client.post(WirePath.verdicts, try submitter.signed(stale, path: WirePath.verdicts, at: clock.now)).status == .unprocessableContent)

            var list = try await client.farmerList()
            let standing = try #require(list.farmers.first { $0.id == farmer.id })
            #expect(standing.reputation.claims == .unchallenged && standing.reputation.rejectedSegments == 0 && standing.reputation.score == 0.5)
            #expect(standing.measured == nil)

            // What does count: a real task's receipt, once per segment, and a trusted challenger.
            let real = try farmer.provenVerdict(by: submitter, segment: Segment.address("real"), accepted: true, at: clock.now)
            for _ in 0..<3 {
                #expect(try await client.post(WirePath.verdicts, try submitter.signed(real, path: WirePath.verdicts, at: clock.now)).status == .ok)
            }
            let checked = ChallengeResult(challenger: trusted.id, farmer: rival.id, passed: false, claimed: CapabilityFigures(framesPerSecond: 240),
                                          measured: CapabilityFigures(framesPerSecond: 40), findings: ["throughput: claims 240, measured 40"])
            #expect(try await client.post(WirePath.challenges, try trusted.signed(checked, path: WirePath.challenges, at: clock.now)).status == .ok)
            list = try await client.farmerList()
            #expect(list.farmers.map(\.id) == [farmer.id, rival.id])
            #expect(list.farmers[0].reputation.verifiedSegments == 1)
            #expect(list.farmers[1].reputation.claims == .disproven)
            let html = try await client.execute(uri: "/", method: .get) { String(buffer: $0.body) }
            #expect(html.contains("signed receipt") && html.contains(trusted.id.description), "the page states who can move standing")
        }
        // Rows an older registry took without proof stay stored but stop counting once the schema is migrated.
        try await execute("INSERT INTO verdicts (submitter, farmer, segment, accepted, reasons, received_at) VALUES (?, ?, ?, 0, '[]', ?)",
                          [.text(TestParty().id.description), .text(farmer.id.description), .text(Segment.address("legacy").description),
                           .integer(Int(clock.now.storedSecondsForTest))])
        try await execute("INSERT INTO challenges (challenger, farmer, passed, claimed, measured, findings, received_at) VALUES (?, ?, 0, '{}', '{}', '[]', ?)",
                          [.text(TestParty().id.description), .text(farmer.id.description), .integer(Int(clock.now.storedSecondsForTest))])
        let store = try await openStore()
        let record = try #require(try await store.farmers(seenSince: clock.now - 60).first { $0.announcement.farmer == farmer.id })
        #expect(record.rejectedSegments == 0 && record.verifiedSegments == 1 && record.challengesFailed == 0 && record.latestChallenge == nil)
        try await store.close()
    }

    /// Trust is the operator's now, not when a result arrived: a challenger taken off `--trust-challenger` stops
    /// counting at the next start, and counts again once it is back.
    @Test func storedChallengesCountOnlyWhileTheirChallengerIsTrusted() async throws {
        defer { folder.remove() }
        let farmer = TestParty(), challenger = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [challenger]) { client async throws in
            #expect(try await client.post(WirePath.heartbeats, try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)).status == .ok)
            let failed = ChallengeResult(challenger: challenger.id, farmer: farmer.id, passed: false, claimed: CapabilityFigures(framesPerSecond: 240),
                                         measured: CapabilityFigures(framesPerSecond: 10), findings: ["throughput: slow"])
            #expect(try await client.post(WirePath.challenges, try challenger.signed(failed, path: WirePath.challenges, at: clock.now)).status == .ok)
        }
        for (trusted, counted) in [(Set<PublicIdentity>(), false), ([challenger.id], true)] {
            let store = try await openStore()
            try await store.applyTrust(trusted)
            let record = try #require(try await store.farmers(seenSince: clock.now - 60).first)
            #expect((record.challengesFailed == 1) == counted && (record.latestChallenge != nil) == counted, "trusted \(trusted): \(record)")
            try await store.close()
        }
    }

    @Test func extremeNumbersAreRefusedAndStoredOnesCannotTrapThePage() async throws {
        defer { folder.remove() }
        let farmer = TestParty(), trusted = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [trusted]) { client in
            var announcements: [FarmerAnnouncement] = []
            for change in 0..<5 {
                var announcement = farmer.announcement()
                switch change {
                case 0: announcement.capabilities.framesPerSecond = 1e19
                case 1: announcement.capabilities.price = Price(microcreditsPerMegapixel: -1)
                case 2: announcement.capabilities.sessions = Int.max
                case 3: announcement.capabilities.framesPerSecond = -1
                default: announcement.capabilities.version = String(repeating: "v", count: 5000)
                }
                announcements.append(announcement)
            }
            for announcement in announcements {
                let reply = try await client.post(WirePath.heartbeats, try farmer.signed(announcement, path: WirePath.heartbeats, at: clock.now))
                #expect(reply.status == .badRequest && reply.json["error"] as? String == "invalid-announcement", "\(reply)")
            }
            #expect(try await client.post(WirePath.heartbeats, try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)).status == .ok)
            let huge = ChallengeResult(challenger: trusted.id, farmer: farmer.id, passed: true, claimed: CapabilityFigures(framesPerSecond: 240),
                                       measured: CapabilityFigures(framesPerSecond: 1e19, uploadBitsPerSecond: 1e300))
            let reply = try await client.post(WirePath.challenges, try trusted.signed(huge, path: WirePath.challenges, at: clock.now))
            #expect(reply.status == .badRequest && reply.json["error"] as? String == "out-of-range", "\(reply)")
            #expect(try await client.farmerList().farmers.first?.measured == nil)
        }
        // What a registry that checked less could have stored: 1e19 frames per second, a challenge measuring 1e300
        // bits per second, and a row whose JSON no longer decodes. The list and the page still answer.
        try await execute("UPDATE farmers SET capabilities = ? WHERE id = ?",
                          [.text(#"{"encoders":["libx264"],"framesPerSecond":1e19,"price":9223372036854775807,"sessions":9223372036854775807,"version":"0"}"#),
                           .text(farmer.id.description)])
        try await execute("INSERT INTO challenges (challenger, farmer, passed, claimed, measured, findings, received_at, trusted) VALUES (?, ?, 1, '{}', ?, '[]', ?, 1)",
                          [.text(trusted.id.description), .text(farmer.id.description),
                           .text(#"{"framesPerSecond":1e19,"uploadBitsPerSecond":1e300,"downloadBitsPerSecond":-1e300}"#), .integer(Int(clock.now.storedSecondsForTest))])
        let broken = TestParty()
        try await execute("INSERT INTO farmers (id, url, capabilities, first_seen, last_seen) VALUES (?, 'http://x', 'not json', ?, ?)",
                          [.text(broken.id.description), .integer(Int(clock.now.storedSecondsForTest)), .integer(Int(clock.now.storedSecondsForTest))])
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [trusted]) { client in
            let list = try await client.farmerList()
            #expect(list.farmers.map(\.id) == [farmer.id], "the undecodable row is left out, the rest listed")
            #expect(list.farmers.first?.claimed.framesPerSecond == 1e19)
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                let html = String(buffer: response.body)
                #expect(html.contains("1e+19"), "\(html.suffix(1500))")
                #expect(html.contains("<td>9223372036854.775807</td>"), "the stored price, however large, is printed: \(html.suffix(1500))")
            }
        }
    }

    /// Random signed bodies at every route over a real socket: numbers at the extremes, NaN and Infinity spelled
    /// out, wrong types, huge strings. Nothing answers 5xx, and the server still lists and renders afterwards.
    @Test func fuzzedSignedBodiesLeaveTheServerUpAndItsPageRendering() async throws {
        defer { folder.remove() }
        let clock = ManualClock(Date())
        let trusted = TestParty()
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [trusted], over: .live) { client in
            var generator = SeededFuzz(seed: 0x5EED_F00D)
            let extremes = ["1e19", "-1e19", "1e308", "-1e308", "1e999", "-0", "9223372036854775807", "18446744073709551616", "-9223372036854775809",
                            "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "NaN", "Infinity", "null", "true", "[]", "{}", "\"\"", "0.5", "3",
                            "\"" + String(repeating: "A", count: 40_000) + "\"", "\"<script>alert(1)</script>\"", "\"\\u0000\""]
            for round in 0..<150 {
                let party = round % 3 == 0 ? trusted : TestParty()
                let other = TestParty()
                func pick() -> String { extremes[generator.next(extremes.count)] }
                let routes: [(String, String)] = [
                    (WirePath.heartbeats, """
                    {"farmer":"\(party.id)","url":\(generator.next(4) == 0 ? pick() : "\"http://127.0.0.1:9\""),"capabilities":{"encoders":\(generator.next(3) == 0 ? pick() : "[\"libx264\"]"),"framesPerSecond":\(pick()),"sessions":\(pick()),"price":\(pick()),"version":\(generator.next(2) == 0 ? pick() : "\"1\"")},"misbehave":\(pick())}
                    """),
                    (WirePath.challenges, """
                    {"challenger":"\(party.id)","farmer":"\(other.id)","passed":\(generator.next(2) == 0 ? "true" : pick()),"claimed":{"framesPerSecond":\(pick()),"sessions":\(pick())},"measured":{"framesPerSecond":\(pick()),"uploadBitsPerSecond":\(pick()),"downloadBitsPerSecond":\(pick()),"encoders":\(pick())},"findings":\(generator.next(2) == 0 ? "[\(pick())]" : pick())}
                    """),
                    (WirePath.verdicts, """
                    {"submitter":"\(party.id)","farmer":"\(other.id)","segment":"\(Segment.address("f\(round)"))","accepted":\(pick()),"reasons":\(pick()),"task":\(pick()),"receipt":\(pick())}
                    """),
                ]
                let (path, body) = routes[round % routes.count]
                let envelope = try SignedEnvelope.sign(body: Data(body.utf8), method: "POST", path: path, by: party.key, at: clock.now)
                let reply = try await client.post(path, try WireCoding.canonicalBytes(envelope))
                #expect(reply.status.code < 500, "\(path) \(body.prefix(300)): \(reply)")
            }
            #expect(try await client.farmerList().heartbeatTTLSeconds == 90)
            try await client.execute(uri: "/", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }
}

/// A small deterministic generator for the fuzz rounds (reproducible failures).
struct SeededFuzz {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }
}
