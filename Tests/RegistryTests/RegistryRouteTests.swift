import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PrismTestSupport
import Registry
import SQLiteNIO
import Testing
import Wire

/// The registry's routes in-process over a real SQLite file.
@Suite struct RegistryRouteTests {
    let clock = ManualClock()
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder("prism-registry") }

    func openStore() async throws -> SQLiteRegistryStore { try await openSQLiteStore(in: folder) }

    /// Rows of the farmers table, read with a connection of our own.
    func storedFarmerRows() async throws -> [(id: String, url: String, lastSeen: Int)] {
        let connection = try await SQLiteConnection.open(storage: .file(path: folder.path("registry.sqlite")))
        let rows = try await connection.query("SELECT id, url, last_seen FROM farmers ORDER BY id")
        try await connection.close()
        return rows.map { ($0.column("id")!.string!, $0.column("url")!.string!, $0.column("last_seen")!.integer!) }
    }

    @Test func signedHeartbeatIsAcceptedStoredAndListed() async throws {
        defer { folder.remove() }
        let farmer = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            let reply = try await client.post(WirePath.heartbeats,
                                              try farmer.signed(farmer.announcement(encoders: ["libx264", "libsvtav1"]),
                                                                path: WirePath.heartbeats, at: clock.now))
            #expect(reply.status == .ok)
            #expect(reply.json["accepted"] as? Bool == true)
            #expect(reply.json["heartbeatTTLSeconds"] as? Int == 90)

            let list = try await client.farmerList()
            #expect(list.farmers.map(\.id) == [farmer.id])
            let standing = try #require(list.farmers.first)
            #expect(standing.url == "http://127.0.0.1:8700")
            #expect(standing.claimed.encoders == ["libx264", "libsvtav1"])
            #expect(standing.claimed.framesPerSecond == 240)
            #expect(standing.reputation.claims == .unchallenged)
            #expect(standing.reputation.score == 0.5)
            #expect(standing.lastSeen == Int64(clock.now.timeIntervalSince1970))
        }
        let rows = try await storedFarmerRows()
        #expect(rows.count == 1)
        #expect(rows.first?.id == farmer.id.description)
        #expect(rows.first?.lastSeen == Int(clock.now.timeIntervalSince1970))
    }

    @Test func unsignedForgedAndMismatchedHeartbeatsAreRefusedWith401() async throws {
        defer { folder.remove() }
        let farmer = TestParty(), impostor = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            // A bare announcement, no envelope.
            let unsigned = try await client.post(WirePath.heartbeats, try WireCoding.canonicalBytes(farmer.announcement()))
            #expect(unsigned.status == .unauthorized)
            #expect(unsigned.json["error"] as? String == "unsigned")

            // Signed by the impostor but speaking for the farmer.
            let mismatched = try await client.post(WirePath.heartbeats,
                                                   try impostor.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now))
            #expect(mismatched.status == .unauthorized)
            #expect(mismatched.json["error"] as? String == "signer-mismatch")

            // The farmer's real envelope with the body swapped for a different URL.
            var envelope = try SignedEnvelope.sign(farmer.announcement(), method: "POST", path: WirePath.heartbeats,
                                                   by: farmer.key, at: clock.now)
            envelope.body = try WireCoding.canonicalBytes(farmer.announcement(url: "http://evil.example:1"))
            let forged = try await client.post(WirePath.heartbeats, try WireCoding.canonicalBytes(envelope))
            #expect(forged.status == .unauthorized)
            #expect(forged.json["error"] as? String == "bad-signature")

            // Signed for another route.
            let wrongPath = try await client.post(WirePath.heartbeats,
                                                  try farmer.signed(farmer.announcement(), path: WirePath.verdicts, at: clock.now))
            #expect(wrongPath.status == .unauthorized)

            #expect(try await client.farmerList().farmers.isEmpty)
        }
        #expect(try await storedFarmerRows().isEmpty)
    }

    @Test func replayedAndExpiredHeartbeatsAreRefused() async throws {
        defer { folder.remove() }
        let farmer = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            let body = try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)
            #expect(try await client.post(WirePath.heartbeats, body).status == .ok)
            clock.advance(10)
            let replayed = try await client.post(WirePath.heartbeats, body)
            #expect(replayed.status == .unauthorized)
            #expect(replayed.json["error"] as? String == "replayed")

            let expired = try await client.post(WirePath.heartbeats,
                                                try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now - 300))
            #expect(expired.status == .unauthorized)
            #expect(expired.json["error"] as? String == "expired")

            let future = try await client.post(WirePath.heartbeats,
                                               try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now + 300))
            #expect(future.status == .unauthorized)
            #expect(future.json["error"] as? String == "from-the-future")
        }
        // Only the first heartbeat reached the database.
        #expect(try await storedFarmerRows().map(\.lastSeen) == [Int(clock.now.timeIntervalSince1970) - 10])
    }

    @Test func nonceLedgerForgetsNoncesOnceTheirWindowHasPassed() async throws {
        defer { folder.remove() }
        let farmer = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            func beat() async throws -> HTTPResponse.Status {
                try await client.post(WirePath.heartbeats, try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)).status
            }
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<3 { statuses.append(try await beat()) }
            clock.advance(121)
            statuses.append(try await beat())
            #expect(statuses == [.ok, .ok, .ok, .ok])
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: folder.path("registry.sqlite")))
        let nonces = try await connection.query("SELECT signer, expires_at FROM seen_nonces")
        try await connection.close()
        // The three old nonces were purged when the fourth arrived; only the fresh one is kept.
        #expect(nonces.count == 1)
        #expect(nonces.first?.column("signer")?.string == farmer.id.description)
        #expect(nonces.first?.column("expires_at")?.integer == Int(clock.now.timeIntervalSince1970) + 120)
    }

    @Test func malformedAndOversizedBodiesAreRefused() async throws {
        defer { folder.remove() }
        let farmer = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            let notJSON = try await client.post(WirePath.heartbeats, Data("{not json".utf8))
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.json["error"] as? String == "malformed-json")

            let badEnvelope = try await client.post(WirePath.heartbeats, Data(#"{"signer": "ed25519:0", "signature": 5}"#.utf8))
            #expect(badEnvelope.status == .badRequest)
            #expect(badEnvelope.json["error"] as? String == "malformed-envelope")

            // Correctly signed, but the body is not an announcement.
            let wrongMessage = try await client.post(WirePath.heartbeats,
                                                     try farmer.signed(["hello": "world"], path: WirePath.heartbeats, at: clock.now))
            #expect(wrongMessage.status == .badRequest)
            #expect(wrongMessage.json["error"] as? String == "malformed-message")

            let badURL = try await client.post(WirePath.heartbeats,
                                               try farmer.signed(farmer.announcement(url: "ftp://x"), path: WirePath.heartbeats, at: clock.now))
            #expect(badURL.status == .badRequest)
            #expect(badURL.json["error"] as? String == "invalid-announcement")

            let huge = try farmer.signed(farmer.announcement(encoders: Array(repeating: String(repeating: "x", count: 1000), count: 80)),
                                         path: WirePath.heartbeats, at: clock.now)
            #expect(huge.count > 64 * 1024)
            let oversized = try await client.post(WirePath.heartbeats, huge)
            #expect(oversized.status == .contentTooLarge)
            #expect(oversized.json["error"] as? String == "body-too-large")
            #expect(try await client.farmerList().farmers.isEmpty)
        }
    }

    @Test func verdictsChangeReputationAndOrdering() async throws {
        defer { folder.remove() }
        let honest = TestParty(), sloppy = TestParty(), submitter = TestParty(), otherSubmitter = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            for farmer in [honest, sloppy] {
                #expect(try await client.post(WirePath.heartbeats,
                                              try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)).status == .ok)
            }
            func judge(_ farmer: TestParty, _ segment: String, accepted: Bool, by judge: TestParty = submitter) async throws {
                let verdict = try farmer.provenVerdict(by: judge, segment: Segment.address(segment), accepted: accepted,
                                                       reasons: accepted ? [] : ["watermark"], at: clock.now)
                let reply = try await client.post(WirePath.verdicts, try judge.signed(verdict, path: WirePath.verdicts, at: clock.now))
                #expect(reply.status == .ok)
            }
            // Sloppy gets verdicts first so insertion order cannot explain the final order.
            try await judge(sloppy, "s1", accepted: true)
            try await judge(sloppy, "s2", accepted: false)
            try await judge(sloppy, "s3", accepted: false)
            try await judge(honest, "s4", accepted: true)
            try await judge(honest, "s5", accepted: true)
            // The same submitter re-judging the same segment replaces its verdict instead of adding one.
            try await judge(honest, "s5", accepted: true)
            try await judge(honest, "s6", accepted: true, by: otherSubmitter)

            let list = try await client.farmerList()
            #expect(list.farmers.map(\.id) == [honest.id, sloppy.id])
            let best = list.farmers[0].reputation, worst = list.farmers[1].reputation
            #expect(best.verifiedSegments == 3)
            #expect(best.rejectedSegments == 0)
            #expect(best.score == 4.0 / 5.0)
            #expect(worst.verifiedSegments == 1)
            #expect(worst.rejectedSegments == 2)
            #expect(worst.score == 2.0 / 5.0)

            // A verdict posted by someone other than the submitter it names is refused.
            let forged = try honest.provenVerdict(by: submitter, segment: Segment.address("s7"), accepted: false, at: clock.now)
            let reply = try await client.post(WirePath.verdicts, try sloppy.signed(forged, path: WirePath.verdicts, at: clock.now))
            #expect(reply.status == .unauthorized)
            #expect(try await client.farmerList().farmers[0].reputation.rejectedSegments == 0)
        }
    }

    @Test func provenClaimsRankFirstAndDisprovenLast() async throws {
        defer { folder.remove() }
        let proven = TestParty(), unchallenged = TestParty(), liar = TestParty(), challenger = TestParty(), submitter = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [challenger]) { client in
            for farmer in [liar, unchallenged, proven] {
                let announcement = farmer.announcement(fps: farmer.id == liar.id ? 2000 : 240, misbehave: farmer.id == liar.id ? "overclaim" : nil)
                #expect(try await client.post(WirePath.heartbeats,
                                              try farmer.signed(announcement, path: WirePath.heartbeats, at: clock.now)).status == .ok)
            }
            // The liar and the unchallenged farmer have more verified segments than the proven one.
            for (index, farmer) in [liar, liar, unchallenged, unchallenged].enumerated() {
                let verdict = try farmer.provenVerdict(by: submitter, segment: Segment.address("seg\(index)"), accepted: true, at: clock.now)
                #expect(try await client.post(WirePath.verdicts, try submitter.signed(verdict, path: WirePath.verdicts, at: clock.now)).status == .ok)
            }
            let passed = ChallengeResult(challenger: challenger.id, farmer: proven.id, passed: true,
                                         claimed: CapabilityFigures(encoders: ["libx264"], framesPerSecond: 240, sessions: 2),
                                         measured: CapabilityFigures(encoders: ["libx264"], framesPerSecond: 251.5, sessions: 2),
                                         findings: ["throughput within 5% of claim"])
            let failed = ChallengeResult(challenger: challenger.id, farmer: liar.id, passed: false,
                                         claimed: CapabilityFigures(encoders: ["libx264"], framesPerSecond: 2000, sessions: 2),
                                         measured: CapabilityFigures(encoders: ["libx264"], framesPerSecond: 230, sessions: 2),
                                         findings: ["claimed 2000 fps, measured 230 fps"])
            for result in [passed, failed] {
                let reply = try await client.post(WirePath.challenges, try challenger.signed(result, path: WirePath.challenges, at: clock.now))
                #expect(reply.status == .ok)
            }

            let list = try await client.farmerList()
            #expect(list.farmers.map(\.id) == [proven.id, unchallenged.id, liar.id])
            #expect(list.farmers.map(\.reputation.claims) == [.proven, .unchallenged, .disproven])
            #expect(list.farmers[0].measured?.framesPerSecond == 251.5)
            #expect(list.farmers[2].claimed.framesPerSecond == 2000)
            #expect(list.farmers[2].measured?.framesPerSecond == 230)
            #expect(list.farmers[2].findings == ["claimed 2000 fps, measured 230 fps"])
            #expect(list.farmers[2].reputation.challengesFailed == 1)
            #expect(list.farmers[2].reputation.score == 3.0 / 4.0 / 2)
            // When each was last challenged, by the registry's clock; never for the unchallenged one.
            #expect(list.farmers.map(\.lastChallengedAt) == [clock.now.storedSecondsForTest, nil, clock.now.storedSecondsForTest])

            // A later passing challenge restores the liar's standing above the unchallenged farmer.
            var retest = passed
            retest.farmer = liar.id
            let firstChallenges = clock.now.storedSecondsForTest
            clock.advance(60)
            #expect(try await client.post(WirePath.challenges, try challenger.signed(retest, path: WirePath.challenges, at: clock.now)).status == .ok)
            let after = try await client.farmerList()
            #expect(after.farmers.map(\.id) == [liar.id, proven.id, unchallenged.id])
            #expect(after.farmers[0].reputation.challengesPassed == 1)
            #expect(after.farmers[0].reputation.challengesFailed == 1)
            #expect(after.farmers[0].lastChallengedAt == clock.now.storedSecondsForTest, "the latest challenge's time")
            #expect(after.farmers[1].lastChallengedAt == firstChallenges)
        }
    }

    @Test func staleFarmersDropOutUntilTheyBeatAgain() async throws {
        defer { folder.remove() }
        let steady = TestParty(), flaky = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, ttl: 90) { client in
            func beat(_ farmer: TestParty) async throws {
                #expect(try await client.post(WirePath.heartbeats,
                                              try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: clock.now)).status == .ok)
            }
            try await beat(steady)
            try await beat(flaky)
            #expect(Set(try await client.farmerList().farmers.map(\.id)) == [steady.id, flaky.id])
            clock.advance(60)
            try await beat(steady)
            clock.advance(31)  // flaky last beat 91 s ago, steady 31 s ago
            #expect(try await client.farmerList().farmers.map(\.id) == [steady.id])
            try await beat(flaky)
            #expect(Set(try await client.farmerList().farmers.map(\.id)) == [steady.id, flaky.id])
        }
        // Dropping out of the list keeps the farmer's row (and so its reputation) in the database.
        #expect(try await storedFarmerRows().count == 2)
    }

    @Test func htmlPageListsFarmersWithClaimsAndEscapesTheirText() async throws {
        defer { folder.remove() }
        let farmer = TestParty(), challenger = TestParty()
        let clock = clock
        try await withRegistry(store: try await openStore(), clock: clock, trusting: [challenger]) { client in
            let empty = try await client.execute(uri: "/", method: .get) { String(buffer: $0.body) }
            #expect(empty.contains("No live farmers."))
            var announcement = farmer.announcement(encoders: ["libx264"], fps: 240)
            announcement.capabilities.version = "<script>alert(1)</script>"
            announcement.capabilities.jobs = JobOffer(modes: ["plain"], limits: JobLimitFigures(memoryBytes: 2 << 30, timeSeconds: 3600))
            #expect(try await client.post(WirePath.heartbeats,
                                          try farmer.signed(announcement, path: WirePath.heartbeats, at: clock.now)).status == .ok)
            let result = ChallengeResult(challenger: challenger.id, farmer: farmer.id, passed: true,
                                         claimed: CapabilityFigures(framesPerSecond: 240),
                                         measured: CapabilityFigures(framesPerSecond: 233, uploadBitsPerSecond: 812.4e6, downloadBitsPerSecond: 640e6))
            #expect(try await client.post(WirePath.challenges, try challenger.signed(result, path: WirePath.challenges, at: clock.now)).status == .ok)
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = String(buffer: response.body)
                #expect(html.contains("<title>Prism registry</title>"))
                #expect(html.contains("1 live farmer "))
                #expect(html.contains(farmer.id.description))
                #expect(html.contains("http://127.0.0.1:8700"))
                #expect(html.contains("<td>240 / 233</td>"))
                // Its price and the general jobs it takes.
                #expect(html.contains("<td>0.25</td><td>plain</td>"), "\(html)")
                // Farmers claim no bandwidth; the challenge measured it both ways.
                #expect(html.contains("<td>– / up 812, down 640</td>"))
                #expect(html.contains("challenged 2027-01-15T08:00:00Z"))
                #expect(html.contains("class=\"proven\""))
                #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
                #expect(!html.contains("<script>"))
            }
            let listed = try await client.farmerList().farmers.first
            #expect(listed?.claimed.jobs?.modes == ["plain"] && listed?.claimed.price == Price(microcreditsPerMegapixel: 250_000))
        }
    }

    @Test func healthzAnswersWhenTheDatabaseDoes() async throws {
        defer { folder.remove() }
        try await withRegistry(store: try await openStore(), clock: clock) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func reopeningADatabaseKeepsItsDataAndSchemaVersion() async throws {
        defer { folder.remove() }
        let farmer = TestParty()
        let first = try await openStore()
        try await first.recordHeartbeat(farmer.announcement(), receivedAt: clock.now)
        try await first.close()
        let second = try await openStore()
        #expect(try await second.farmers(seenSince: clock.now - 1).map(\.announcement) == [farmer.announcement()])
        try await second.close()
        let connection = try await SQLiteConnection.open(storage: .file(path: folder.path("registry.sqlite")))
        let versions = try await connection.query("SELECT version FROM registry_schema ORDER BY version").compactMap { $0.column("version")?.integer }
        try await connection.close()
        #expect(versions == [1, 2, 3, 4])
    }
}

extension Date {
    /// Whole seconds since 1970, as the registry stores and lists times.
    var storedSecondsForTest: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
}
