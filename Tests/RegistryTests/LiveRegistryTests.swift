import Foundation
import PrismTestSupport
import Registry
import Testing
import Wire

/// The real `prism registry serve` binary over real sockets.
@Suite struct LiveRegistryTests {
    @Test func servedRegistryAcceptsSignedHeartbeatsOverHTTPAndListsThem() async throws {
        let folder = try TemporaryFolder("prism-live-registry")
        defer { folder.remove() }
        // A heartbeat stays live for an hour: on a loaded machine the steps below can take minutes, and the page
        // lists live farmers only (liveness by age has tests of its own).
        let registry = try LiveRegistry(db: "sqlite:" + folder.path("registry.sqlite"), extraArguments: ["--heartbeat-ttl", "3600"])
        defer { registry.stop() }
        let farmer = TestParty(), submitter = TestParty()

        let health = try await registry.request("GET", "/healthz")
        #expect(health.status == 200)

        let body = try farmer.signed(farmer.announcement(url: "http://127.0.0.1:9999"), path: WirePath.heartbeats, at: Date())
        let accepted = try await registry.request("POST", WirePath.heartbeats, body: body)
        #expect(accepted.status == 200, "\(String(decoding: accepted.body, as: UTF8.self))")
        let replayed = try await registry.request("POST", WirePath.heartbeats, body: body)
        #expect(replayed.status == 401)
        #expect(String(decoding: replayed.body, as: UTF8.self).contains("\"error\":\"replayed\""))

        let verdict = try farmer.provenVerdict(by: submitter, segment: Segment.address("live"), accepted: true, at: Date())
        let judged = try await registry.request("POST", WirePath.verdicts,
                                                body: try submitter.signed(verdict, path: WirePath.verdicts, at: Date()))
        #expect(judged.status == 200)

        let listed = try await registry.request("GET", WirePath.farmers)
        #expect(listed.status == 200)
        let list = try JSONDecoder().decode(FarmerList.self, from: listed.body)
        #expect(list.farmers.map(\.id) == [farmer.id])
        #expect(list.farmers.first?.url == "http://127.0.0.1:9999")
        #expect(list.farmers.first?.reputation.verifiedSegments == 1)

        let page = try await registry.request("GET", "/")
        #expect(page.status == 200)
        #expect(String(decoding: page.body, as: UTF8.self).contains(farmer.id.description))

        let oversized = try await registry.request("POST", WirePath.heartbeats, body: Data(repeating: 0x20, count: 200 * 1024))
        #expect(oversized.status == 413)
        let malformed = try await registry.request("POST", WirePath.heartbeats, body: Data("nope".utf8))
        #expect(malformed.status == 400)

        #expect(registry.stop() == 0)
    }

    @Test func registryKeepsFarmersAcrossRestartsOnTheSameSQLiteFile() async throws {
        let folder = try TemporaryFolder("prism-live-registry")
        defer { folder.remove() }
        let db = "sqlite:" + folder.path("registry.sqlite")
        let farmer = TestParty()
        // What is tested is the file, not the heartbeat's lifetime: a long TTL keeps a slow restart from listing nobody.
        let ttl = ["--heartbeat-ttl", "3600"]
        let first = try LiveRegistry(db: db, extraArguments: ttl)
        let posted = try await first.request("POST", WirePath.heartbeats,
                                             body: try farmer.signed(farmer.announcement(), path: WirePath.heartbeats, at: Date()))
        #expect(posted.status == 200)
        #expect(first.stop() == 0)

        let second = try LiveRegistry(db: db, extraArguments: ttl)
        defer { second.stop() }
        let list = try JSONDecoder().decode(FarmerList.self, from: try await second.request("GET", WirePath.farmers).body)
        #expect(list.farmers.map(\.id) == [farmer.id])
    }
}

/// `prism registry serve` refusing bad input with exit 2 and one line.
@Suite struct RegistryCommandInputTests {
    func expectBadInput(_ arguments: [String], mentioning text: String) throws {
        let result = try PrismBinary.run(["registry", "serve"] + arguments)
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(text), "\(result.stderr)")
    }

    @Test(arguments: ["localhost", "127.0.0.1:", ":8080", "127.0.0.1:99999", "127.0.0.1:http", "::1:80"])
    func malformedListenAddressesExitTwo(_ listen: String) throws {
        try expectBadInput(["--listen", listen, "--db", "sqlite:/tmp/unused-\(UUID().uuidString).sqlite"], mentioning: "--listen must be HOST:PORT")
    }

    @Test func unknownDatabaseSchemesExitTwo() throws {
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", "mysql://x@y/z"], mentioning: "--db must be sqlite:PATH or postgres://")
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", "postgres://127.0.0.1/db"], mentioning: "PostgreSQL URL")
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", "postgres://u@127.0.0.1:5432"], mentioning: "names no database")
    }

    @Test func badIdleTimeoutsAndChallengerIdsExitTwo() throws {
        let db = "sqlite:/tmp/unused-\(UUID().uuidString).sqlite"
        for seconds in ["0", "99999"] {
            try expectBadInput(["--listen", "127.0.0.1:0", "--db", db, "--idle-timeout", seconds], mentioning: "--idle-timeout must be between 1 and 3600")
        }
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", db, "--trust-challenger", "ed25519:nope"],
                           mentioning: "--trust-challenger: \"ed25519:nope\" is not a public identity")
    }

    @Test func unreadableRegistryKeysExitTwo() throws {
        let folder = try TemporaryFolder("registry-key")
        defer { folder.remove() }
        let db = "sqlite:" + folder.path("r.sqlite")
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", db, "--key", folder.path("missing.key")], mentioning: "cannot read key file")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: folder.path("broken.key")))
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", db, "--key", folder.path("broken.key")], mentioning: "not a prism key file")
    }

    @Test func unreachableDatabasesExitTwo() throws {
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", "postgres://prism@127.0.0.1:1/prism"], mentioning: "cannot reach PostgreSQL")
        try expectBadInput(["--listen", "127.0.0.1:0", "--db", "sqlite:/nonexistent-dir-\(UUID().uuidString)/r.sqlite"],
                           mentioning: "cannot open SQLite database")
    }

    @Test func portAlreadyInUseExitsTwo() async throws {
        let folder = try TemporaryFolder("prism-live-registry")
        defer { folder.remove() }
        let running = try LiveRegistry(db: "sqlite:" + folder.path("a.sqlite"))
        defer { running.stop() }
        let port = try #require(running.baseURL.port)
        try expectBadInput(["--listen", "127.0.0.1:\(port)", "--db", "sqlite:" + folder.path("b.sqlite")], mentioning: "cannot listen on")
    }
}

/// `prism earnings` refusing what it cannot use, with exit 2 and one line, before or when reaching the registry.
@Suite struct EarningsCommandInputTests {
    @Test func badEarningsInputExitsTwoWithOneLine() throws {
        let folder = try TemporaryFolder("earnings-input")
        defer { folder.remove() }
        let key = folder.path("farmer.key")
        try KeyFile.encode(SigningIdentity()).write(to: URL(fileURLWithPath: key))
        for (arguments, text) in [(["--registry", "http://127.0.0.1:9", "--key", folder.path("missing.key")], "cannot read key file"),
                                  (["--registry", "http://127.0.0.1:9", "--key", key, "--registry-id", "ed25519:nope"], "--registry-id"),
                                  (["--registry", "http://127.0.0.1:9", "--key", key], "cannot read the ledger of http://127.0.0.1:9")] {
            let result = try PrismBinary.run(["earnings"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
    }
}
