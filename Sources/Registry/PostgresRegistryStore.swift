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

    public func recordVerdict(_ verdict: Verdict, payment: LedgerPayment?, receivedAt: Date) async throws {
        let submitter = verdict.submitter.description, farmer = verdict.farmer.description
        let segment = verdict.segment.description, reasons = try StoredJSON.text(verdict.reasons)
        let received = receivedAt.storedSeconds
        let task = verdict.task?.description
        let logger = logger
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO verdicts (submitter, farmer, segment, accepted, reasons, received_at, task)
                VALUES (\(submitter), \(farmer), \(segment), \(verdict.accepted), \(reasons), \(received), \(task))
                ON CONFLICT (submitter, farmer, segment) DO UPDATE SET accepted = EXCLUDED.accepted,
                    reasons = EXCLUDED.reasons, received_at = EXCLUDED.received_at, task = EXCLUDED.task
                """, logger: logger)
            guard let task else { return }
            for row in try await Self.ledgerRows(for: verdict, task: task, payment: payment, at: receivedAt, on: connection, logger: logger) {
                var insert = PostgresQuery(unsafeSQL: LedgerSQL.insertEntry(.postgres))
                insert.binds.append(row.account)
                insert.binds.append(row.counterparty)
                insert.binds.append(row.task)
                insert.binds.append(row.segment)
                insert.binds.append(row.pixels)
                insert.binds.append(row.price)
                insert.binds.append(row.amount)
                insert.binds.append(row.verdict)
                insert.binds.append(row.recordedAt)
                try await connection.query(insert, logger: logger)
            }
        }
    }

    /// The payment an accepted verdict makes, or the reversal a rejected one makes; none when already done (the
    /// conflict clause and `NOT reversed` make this exactly-once across registries sharing the database).
    private static func ledgerRows(for verdict: Verdict, task: String, payment: LedgerPayment?, at: Date,
                                   on connection: PostgresConnection, logger: Logger) async throws -> [LedgerBook.Row] {
        let (farmer, submitter) = (verdict.farmer.description, verdict.submitter.description)
        if verdict.accepted, let payment {
            var insert = PostgresQuery(unsafeSQL: LedgerSQL.insertPayment(.postgres))
            insert.binds.append(farmer)
            insert.binds.append(submitter)
            insert.binds.append(task)
            insert.binds.append(verdict.segment.description)
            insert.binds.append(payment.pixels)
            insert.binds.append(payment.price.microcreditsPerMegapixel)
            insert.binds.append(payment.amount)
            insert.binds.append(at.storedSeconds)
            var inserted = false
            for try await _ in try await connection.query(insert, logger: logger).decode(Int64.self) { inserted = true }
            guard inserted else { return [] }
            return LedgerBook.pair(farmer: verdict.farmer, submitter: verdict.submitter, task: task, segment: verdict.segment.description,
                                   pixels: payment.pixels, price: payment.price.microcreditsPerMegapixel, amount: payment.amount,
                                   reversal: false, at: at)
        }
        guard !verdict.accepted else { return [] }
        var reverse = PostgresQuery(unsafeSQL: LedgerSQL.reversePayment(.postgres))
        reverse.binds.append(farmer)
        reverse.binds.append(submitter)
        reverse.binds.append(task)
        for try await (segment, pixels, price, amount) in try await connection.query(reverse, logger: logger).decode((String, Int64, Int64, Int64).self) {
            return LedgerBook.pair(farmer: verdict.farmer, submitter: verdict.submitter, task: task, segment: segment, pixels: pixels,
                                   price: price, amount: amount, reversal: true, at: at)
        }
        return []
    }

    public func ledger(of account: PublicIdentity, recent: Int) async throws -> LedgerTotals {
        let logger = logger
        // One snapshot for the sums and the entries: a verdict committed between the two reads cannot make them disagree.
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            var totals = PostgresQuery(unsafeSQL: LedgerSQL.totals(.postgres))
            totals.binds.append(account.description)
            var sums: (String, String, String, String, String)?
            for try await row in try await connection.query(totals, logger: logger).decode((String, String, String, String, String).self) { sums = row }
            guard let sums else { throw StoredRowError.missingColumn("balance") }
            var recentQuery = PostgresQuery(unsafeSQL: LedgerSQL.recent(.postgres))
            recentQuery.binds.append(account.description)
            recentQuery.binds.append(Int64(recent))
            var entries: [LedgerEntry] = []
            let rows = try await connection.query(recentQuery, logger: logger)
            for try await (id, counterparty, task, segment, pixels, price, amount, verdict, recordedAt) in rows.decode(
                (Int64, String, String, String, Int64, Int64, Int64, String, Int64).self) {
                if let entry = StoredRows.tolerant(logger: logger, {
                    try LedgerBook.entry(id: id, counterparty: counterparty, task: task, segment: segment, pixels: pixels, price: price,
                                         amount: amount, verdict: verdict, recordedAt: recordedAt)
                }) { entries.append(entry) }
            }
            return LedgerTotals(balance: try LedgerBook.sum(sums.0, "balance"), credited: try LedgerBook.sum(sums.1, "credited"),
                                debited: try LedgerBook.sum(sums.2, "debited"), pixels: try LedgerBook.sum(sums.3, "pixels"),
                                entryCount: try LedgerBook.sum(sums.4, "entries"), entries: entries)
        }
    }

    public func balances(limit: Int) async throws -> [LedgerBalance] {
        var query = PostgresQuery(unsafeSQL: LedgerSQL.balances(.postgres))
        query.binds.append(Int64(limit))
        var balances: [LedgerBalance] = []
        for try await (account, balance, pixels, entries) in try await client.query(query, logger: logger).decode((String, String, String, String).self) {
            if let line = StoredRows.tolerant(logger: logger, {
                LedgerBalance(account: try PublicIdentity(account), balance: try LedgerBook.sum(balance, "balance"),
                              pixels: try LedgerBook.sum(pixels, "pixels"), entryCount: try LedgerBook.sum(entries, "entries"))
            }) { balances.append(line) }
        }
        return balances
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
