import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import Wire

/// A registry store in a PostgreSQL database, so that several registry instances behind one
/// name can share farmers, verdicts and challenges.
public final class PostgresRegistryStore: RegistryStore {
    private let client: PostgresClient
    private let logger: Logger
    private let sweep = NonceSweep()

    /// How long to wait for the server before calling it unreachable.
    static let connectTimeout: TimeAmount = .seconds(5)
    /// Serialises concurrent migrations from several registries starting at once (an arbitrary constant key).
    static let migrationLockKey: Int64 = 0x7072_6973_6d72_6567  // "prismreg"

    private let connectionConfiguration: PostgresConnection.Configuration

    private init(client: PostgresClient, connectionConfiguration: PostgresConnection.Configuration, logger: Logger) {
        self.client = client
        self.connectionConfiguration = connectionConfiguration
        self.logger = logger
    }

    /// Connects once to prove the server is reachable and apply pending migrations, then returns a
    /// store whose connection pool starts when the store is run as a service.
    public static func open(_ location: PostgresLocation, logger: Logger) async throws -> PostgresRegistryStore {
        var connectionConfiguration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: .disable)
        connectionConfiguration.options.connectTimeout = connectTimeout
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: logger)
        } catch {
            throw RegistryInputError.databaseUnavailable("cannot reach PostgreSQL at \(location): \(describe(error))")
        }
        do {
            try await migrate(connection, logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw RegistryInputError.databaseUnavailable("cannot prepare PostgreSQL database \(location): \(describe(error))")
        }

        var clientConfiguration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: .disable)
        clientConfiguration.options.connectTimeout = .seconds(5)
        return PostgresRegistryStore(client: PostgresClient(configuration: clientConfiguration, backgroundLogger: logger),
                                     connectionConfiguration: connectionConfiguration, logger: logger)
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            // Transaction-scoped: released at COMMIT, so a crashed registry cannot leave it held. Taken before
            // anything else, since even CREATE TABLE IF NOT EXISTS races with a concurrent creator.
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: RegistrySchema.versionTable), logger: logger)
            var current: Int64 = 0
            for try await (version) in try await connection.query(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM registry_schema", logger: logger).decode(Int64.self) {
                current = version
            }
            for (index, statements) in RegistrySchema.migrations(.postgres).enumerated() where index + 1 > current {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let version = index + 1
                let now = Date().storedSeconds
                try await connection.query("INSERT INTO registry_schema (version, applied_at) VALUES (\(version), \(now))",
                                           logger: logger)
                logger.debug("applied registry schema migration \(version)")
            }
        }
    }

    /// PSQLError's description hides the server's message for privacy; show the parts a person needs.
    static func describe(_ error: Error) -> String {
        switch error {
        case let error as PSQLError:
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return describe(underlying) }
            return "\(error.code)"
        case let error as NIOConnectionError:
            if let failure = error.connectionErrors.first { return describe(failure.error) }
            if let dnsError = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dnsError)" }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        default:
            return String(describing: error)
        }
    }

    /// Runs the connection pool until shutdown.
    public func run() async throws {
        await client.run()
    }

    /// Nothing to release: the pool's connections exist only while `run()` runs.
    public func close() async throws {}

    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    public func claimNonce(signer: PublicIdentity, nonce: Data, expiresAt: Date, now: Date) async throws -> Bool {
        let current = now.storedSeconds, expiry = expiresAt.storedSeconds
        let signerText = signer.description, nonceText = Hex.encode(nonce)
        if sweep.due(at: now) {
            try await client.query("DELETE FROM seen_nonces WHERE expires_at < \(current)", logger: logger)
        }
        var inserted = 0
        for try await _ in try await client.query("""
            INSERT INTO seen_nonces (signer, nonce, expires_at) VALUES (\(signerText), \(nonceText), \(expiry))
            ON CONFLICT (signer, nonce) DO NOTHING RETURNING signer
            """, logger: logger).decode(String.self) {
            inserted += 1
        }
        return inserted == 1
    }

    public func recordHeartbeat(_ announcement: FarmerAnnouncement, receivedAt: Date) async throws {
        let id = announcement.farmer.description
        let capabilities = try StoredJSON.text(announcement.capabilities)
        let seen = receivedAt.storedSeconds
        try await client.query("""
            INSERT INTO farmers (id, url, capabilities, misbehave, first_seen, last_seen)
            VALUES (\(id), \(announcement.url), \(capabilities), \(announcement.misbehave), \(seen), \(seen))
            ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, capabilities = EXCLUDED.capabilities,
                misbehave = EXCLUDED.misbehave, last_seen = EXCLUDED.last_seen
            """, logger: logger)
    }

    public func recordVerdict(_ verdict: Verdict, receivedAt: Date) async throws {
        let submitter = verdict.submitter.description, farmer = verdict.farmer.description
        let segment = verdict.segment.description, reasons = try StoredJSON.text(verdict.reasons)
        let received = receivedAt.storedSeconds
        let task = verdict.task?.description
        try await client.query("""
            INSERT INTO verdicts (submitter, farmer, segment, accepted, reasons, received_at, task)
            VALUES (\(submitter), \(farmer), \(segment), \(verdict.accepted), \(reasons), \(received), \(task))
            ON CONFLICT (submitter, farmer, segment) DO UPDATE SET accepted = EXCLUDED.accepted,
                reasons = EXCLUDED.reasons, received_at = EXCLUDED.received_at, task = EXCLUDED.task
            """, logger: logger)
    }

    public func applyTrust(_ trusted: Set<PublicIdentity>) async throws {
        // On a connection of its own: this runs on start, before the pool's `run()` has begun.
        let ids = trusted.map(\.description).sorted()
        let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 1, logger: logger)
        do {
            try await connection.query("UPDATE challenges SET trusted = (challenger = ANY(\(ids)))", logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    public func recordChallenge(_ result: ChallengeResult, receivedAt: Date) async throws {
        let challenger = result.challenger.description, farmer = result.farmer.description
        let claimed = try StoredJSON.text(result.claimed), measured = try StoredJSON.text(result.measured)
        let findings = try StoredJSON.text(result.findings)
        let received = receivedAt.storedSeconds
        try await client.query("""
            INSERT INTO challenges (challenger, farmer, passed, claimed, measured, findings, received_at, trusted)
            VALUES (\(challenger), \(farmer), \(result.passed), \(claimed), \(measured), \(findings), \(received), TRUE)
            """, logger: logger)
    }

    public func farmers(seenSince: Date) async throws -> [FarmerRecord] {
        let since = seenSince.storedSeconds
        var farmersQuery = PostgresQuery(unsafeSQL: RegistrySchema.liveFarmersQuery(.postgres))
        farmersQuery.binds.append(since)
        var farmers: [FarmerRecord] = []
        let farmerRows = try await client.query(farmersQuery, logger: logger)
        for try await (id, url, capabilities, misbehave, firstSeen, lastSeen, verified, rejected, passed, failed) in farmerRows.decode(
            (String, String, String, String?, Int64, Int64, Int64, Int64, Int64, Int64).self) {
            if let farmer = StoredRows.tolerant(logger: logger, {
                try StoredRows.farmer(id: id, url: url, capabilities: capabilities, misbehave: misbehave,
                                      firstSeen: firstSeen, lastSeen: lastSeen, verified: verified,
                                      rejected: rejected, passed: passed, failed: failed)
            }) { farmers.append(farmer) }
        }
        var challengesQuery = PostgresQuery(unsafeSQL: RegistrySchema.latestChallengesQuery(.postgres))
        challengesQuery.binds.append(since)
        var latest: [ChallengeRecord] = []
        let challengeRows = try await client.query(challengesQuery, logger: logger)
        for try await (challenger, farmer, passed, claimed, measured, findings, receivedAt) in challengeRows.decode(
            (String, String, Bool, String, String, String, Int64).self) {
            if let challenge = StoredRows.tolerant(logger: logger, {
                try StoredRows.challenge(challenger: challenger, farmer: farmer, passed: passed, claimed: claimed,
                                         measured: measured, findings: findings, receivedAt: receivedAt)
            }) { latest.append(challenge) }
        }
        return StoredRows.merge(farmers, latest: latest)
    }
}
