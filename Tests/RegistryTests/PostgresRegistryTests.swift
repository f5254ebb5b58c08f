import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import PrismTestSupport
import Registry
import Testing
import Wire

/// The PostgreSQL server the tests use, from PRISM_TEST_POSTGRES_URL (scripts/start-postgres.sh prints one).
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["PRISM_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let skipReason: Comment = "PRISM_TEST_POSTGRES_URL is unset: run `export PRISM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)` to test PostgreSQL"

    static func connect(_ location: PostgresLocation) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: .init(host: location.host, port: location.port, username: location.username,
                                 password: location.password, database: location.database, tls: .disable),
            id: 1, logger: testLogger)
    }

    /// Runs `body` with a fresh, empty database on the test server, dropped afterwards, so tests share nothing.
    static func withFreshDatabase(_ body: (PostgresLocation, String) async throws -> Void) async throws {
        let server = try PostgresLocation(parsing: try #require(url))
        let name = "prism_test_" + Hex.encode((0..<6).map { _ in UInt8.random(in: 0...255) })
        let admin = try await connect(server)
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: testLogger)
        var fresh = server
        fresh.database = name
        let freshURL = "postgres://\(server.username)\(server.password.map { ":" + $0 } ?? "")@\(server.host):\(server.port)/\(name)"
        do {
            try await body(fresh, freshURL)
        } catch {
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: testLogger)
            try? await admin.close()
            throw error
        }
        try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: testLogger)
        try await admin.close()
    }
}

@Suite(.enabled(if: TestPostgres.url != nil, TestPostgres.skipReason))
struct PostgresRegistryTests {
    @Test func routesWorkOverPostgresAndLandInItsTables() async throws {
        try await TestPostgres.withFreshDatabase { location, _ in
            // Two registries starting at once must not both try to create the schema.
            async let opening = PostgresRegistryStore.open(location, logger: testLogger)
            async let racing = PostgresRegistryStore.open(location, logger: testLogger)
            let (store, _) = try await (opening, racing)

            let clock = ManualClock()
            let farmer = TestParty(), rival = TestParty(), submitter = TestParty(), challenger = TestParty()
            try await withRegistry(store: store, clock: clock, trusting: [challenger]) { client in
                for party in [farmer, rival] {
                    let reply = try await client.post(WirePath.heartbeats,
                                                      try party.signed(party.announcement(), path: WirePath.heartbeats, at: clock.now))
                    #expect(reply.status == .ok)
                }
                let rejected = try farmer.provenVerdict(by: submitter, segment: Segment.address("a"), accepted: false,
                                                        reasons: ["quality-floor"], at: clock.now)
                #expect(try await client.post(WirePath.verdicts, try submitter.signed(rejected, path: WirePath.verdicts, at: clock.now)).status == .ok)
                let accepted = try rival.provenVerdict(by: submitter, segment: Segment.address("b"), accepted: true, at: clock.now)
                #expect(try await client.post(WirePath.verdicts, try submitter.signed(accepted, path: WirePath.verdicts, at: clock.now)).status == .ok)
                let challenge = ChallengeResult(challenger: challenger.id, farmer: farmer.id, passed: false,
                                                claimed: CapabilityFigures(framesPerSecond: 240),
                                                measured: CapabilityFigures(framesPerSecond: 12, uploadBitsPerSecond: 9e7), findings: ["slow"])
                #expect(try await client.post(WirePath.challenges, try challenger.signed(challenge, path: WirePath.challenges, at: clock.now)).status == .ok)
                let unsigned = try await client.post(WirePath.heartbeats, try WireCoding.canonicalBytes(farmer.announcement()))
                #expect(unsigned.status == .unauthorized)

                let list = try await client.farmerList()
                #expect(list.farmers.map(\.id) == [rival.id, farmer.id])
                #expect(list.farmers[1].reputation.claims == .disproven)
                #expect(list.farmers[1].reputation.rejectedSegments == 1)
                #expect(list.farmers[1].measured?.framesPerSecond == 12)
                #expect(list.farmers[1].measured?.uploadBitsPerSecond == 9e7)
                #expect(list.farmers[1].lastChallengedAt == clock.now.storedSecondsForTest)
                #expect(list.farmers[0].lastChallengedAt == nil)

                clock.advance(91)
                #expect(try await client.farmerList().farmers.isEmpty)
            }

            let connection = try await TestPostgres.connect(location)
            var farmerIDs: [String] = []
            for try await id in try await connection.query("SELECT id FROM farmers ORDER BY id", logger: testLogger).decode(String.self) {
                farmerIDs.append(id)
            }
            #expect(farmerIDs == [farmer.id.description, rival.id.description].sorted())
            var verdicts: [(String, Bool)] = []
            for try await row in try await connection.query("SELECT farmer, accepted FROM verdicts ORDER BY farmer", logger: testLogger)
                .decode((String, Bool).self) {
                verdicts.append(row)
            }
            #expect(verdicts.map(\.0) == [farmer.id.description, rival.id.description].sorted())
            var versions: [Int32] = []
            for try await version in try await connection.query("SELECT version FROM registry_schema ORDER BY version", logger: testLogger).decode(Int32.self) {
                versions.append(version)
            }
            #expect(versions == [1, 2, 3, 4])
            try await connection.close()
        }
    }

    @Test func twoRegistryInstancesOnOneDatabaseSeeEachOthersFarmers() async throws {
        try await TestPostgres.withFreshDatabase { _, url in
            // Heartbeats stay live for an hour: the listings below show live farmers only, and on a loaded machine this
            // test's steps once took six minutes, past the default time to live (liveness by age has tests of its own).
            let east = try LiveRegistry(db: url, extraArguments: ["--heartbeat-ttl", "3600"])
            defer { east.stop() }
            let west = try LiveRegistry(db: url, extraArguments: ["--heartbeat-ttl", "3600"])
            defer { west.stop() }
            #expect(east.baseURL != west.baseURL)
            let farmer = TestParty(), submitter = TestParty()

            let beat = try await east.request("POST", WirePath.heartbeats,
                                              body: try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: Date()))
            #expect(beat.status == 200, "\(String(decoding: beat.body, as: UTF8.self)) \(east.log)")
            // The nonce ledger is shared: the same envelope replayed to the other instance is refused.
            let fresh = try await west.request("POST", WirePath.heartbeats,
                                               body: try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: Date()))
            #expect(fresh.status == 200)
            let heartbeat = try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: Date())
            #expect(try await east.request("POST", WirePath.heartbeats, body: heartbeat).status == 200)
            let replayedToWest = try await west.request("POST", WirePath.heartbeats, body: heartbeat)
            #expect(replayedToWest.status == 401)
            #expect(String(decoding: replayedToWest.body, as: UTF8.self).contains("\"error\":\"replayed\""))

            let seenByWest = try JSONDecoder().decode(FarmerList.self, from: try await west.request("GET", WirePath.farmers).body)
            #expect(seenByWest.farmers.map(\.id) == [farmer.id])

            let verdict = try farmer.provenVerdict(by: submitter, segment: Segment.address("x"), accepted: true, at: Date())
            let judged = try await west.request("POST", WirePath.verdicts, body: try submitter.signed(verdict, path: WirePath.verdicts, at: Date()))
            #expect(judged.status == 200)
            let seenByEast = try JSONDecoder().decode(FarmerList.self, from: try await east.request("GET", WirePath.farmers).body)
            #expect(seenByEast.farmers.first?.reputation.verifiedSegments == 1)
            #expect(try await west.request("GET", "/healthz").status == 200)

            #expect(east.stop() == 0)
            #expect(west.stop() == 0)
        }
    }
}
