import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SQLiteNIO
import Wire
import Synchronization

/// A registry store in one SQLite file: the default, for a single registry instance.
public final class SQLiteRegistryStore: RegistryStore, Sendable {
    private let connection: SQLiteConnection
    private let logger: Logger
    /// Whether `close()` has run (it may be reached twice: by `run()` ending and by an explicit call).
    private let isClosed = Mutex(false)
    private let sweep = NonceSweep()
    /// Verdict transactions (and ledger statements' reads) run one at a time: two BEGINs never meet on the one
    /// connection, and a statement never sees a verdict's transaction half done. A heartbeat or nonce statement another
    /// request sends meanwhile lands inside the open transaction and commits with it; only if the verdict's write
    /// failed would it be rolled back with it (a heartbeat the next one repeats, a nonce whose replay the ledger's
    /// keys make harmless). A second connection would avoid that, but its busy waits can take every thread of the
    /// thread pool both connections share.
    private let ledgerGate = SerialGate()

    private init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    public static func open(path: String, logger: Logger) async throws -> SQLiteRegistryStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw RegistryInputError.databaseUnavailable("cannot open SQLite database \(path): \(error)")
        }
        let store = SQLiteRegistryStore(connection: connection, logger: logger)
        do {
            // WAL lets readers (the farmer list) proceed while a heartbeat writes;
            // busy_timeout makes a second process on the same file wait instead of failing.
            _ = try await connection.query("PRAGMA journal_mode = WAL")
            _ = try await connection.query("PRAGMA busy_timeout = 5000")
            // In WAL mode NORMAL is crash-safe (a power cut may lose the last commits, never corrupt the file) and
            // spares an fsync per heartbeat.
            _ = try await connection.query("PRAGMA synchronous = NORMAL")
            try await store.migrate()
        } catch {
            try? await connection.close()
            throw RegistryInputError.databaseUnavailable("cannot use SQLite database \(path): \(error)")
        }
        return store
    }

    private func migrate() async throws {
        _ = try await connection.query(RegistrySchema.versionTable)
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            let current = try await connection.query("SELECT COALESCE(MAX(version), 0) AS version FROM registry_schema")
                .first?.column("version")?.integer ?? 0
            for (index, statements) in RegistrySchema.migrations(.sqlite).enumerated() where index + 1 > current {
                for statement in statements { _ = try await connection.query(statement) }
                _ = try await connection.query("INSERT INTO registry_schema (version, applied_at) VALUES (?, ?)",
                                               [.integer(index + 1), .integer(Int(Date().storedSeconds))])
                logger.debug("applied registry schema migration \(index + 1)")
            }
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    /// Keeps the connection until shutdown, then closes it.
    public func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }

    public func close() async throws {
        // Closing twice would hand SQLite a dangling handle; run() and an explicit close() may both get here.
        let first = isClosed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        // In a task of its own: shutdown arrives as cancellation, and sqlite-nio skips work for a cancelled task,
        // which would leave the file open.
        let connection = connection
        try await Task { try await connection.close() }.value
    }

    public func ping() async throws {
        _ = try await connection.query("SELECT 1")
    }

    public func claimNonce(signer: PublicIdentity, nonce: Data, expiresAt: Date, now: Date) async throws -> Bool {
        if sweep.due(at: now) {
            _ = try await connection.query("DELETE FROM seen_nonces WHERE expires_at < ?", [.integer(Int(now.storedSeconds))])
        }
        let inserted = try await connection.query("""
            INSERT INTO seen_nonces (signer, nonce, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (signer, nonce) DO NOTHING RETURNING signer
            """, [.text(signer.description), .text(Hex.encode(nonce)), .integer(Int(expiresAt.storedSeconds))])
        return !inserted.isEmpty
    }

    public func recordHeartbeat(_ announcement: FarmerAnnouncement, receivedAt: Date) async throws {
        let seen = SQLiteData.integer(Int(receivedAt.storedSeconds))
        _ = try await connection.query("""
            INSERT INTO farmers (id, url, capabilities, misbehave, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET url = excluded.url, capabilities = excluded.capabilities,
                misbehave = excluded.misbehave, last_seen = excluded.last_seen
            """, [.text(announcement.farmer.description), .text(announcement.url),
                  .text(try StoredJSON.text(announcement.capabilities)),
                  announcement.misbehave.map(SQLiteData.text) ?? .null, seen, seen])
    }

    public func recordVerdict(_ verdict: Verdict, payment: LedgerPayment?, receivedAt: Date) async throws {
        let binds: [SQLiteData] = [.text(verdict.submitter.description), .text(verdict.farmer.description), .text(verdict.segment.description),
                                   .integer(verdict.accepted ? 1 : 0), .text(try StoredJSON.text(verdict.reasons)),
                                   .integer(Int(receivedAt.storedSeconds)), verdict.task.map { .text($0.description) } ?? .null]
        let connection = connection
        try await ledgerGate.run {
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                _ = try await connection.query("""
                    INSERT INTO verdicts (submitter, farmer, segment, accepted, reasons, received_at, task) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (submitter, farmer, segment) DO UPDATE SET accepted = excluded.accepted,
                        reasons = excluded.reasons, received_at = excluded.received_at, task = excluded.task
                    """, binds)
                if let task = verdict.task?.description {
                    for row in try await Self.ledgerRows(for: verdict, task: task, payment: payment, at: receivedAt, on: connection) {
                        _ = try await connection.query(LedgerSQL.insertEntry(.sqlite), [
                            .text(row.account), .text(row.counterparty), .text(row.task), .text(row.segment), .integer(Int(row.pixels)),
                            .integer(Int(row.price)), .integer(Int(row.amount)), .text(row.verdict), .integer(Int(row.recordedAt))])
                    }
                }
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// The payment an accepted verdict makes, or the reversal a rejected one makes; none when already done.
    private static func ledgerRows(for verdict: Verdict, task: String, payment: LedgerPayment?, at: Date,
                                   on connection: SQLiteConnection) async throws -> [LedgerBook.Row] {
        let keys: [SQLiteData] = [.text(verdict.farmer.description), .text(verdict.submitter.description), .text(task)]
        if verdict.accepted, let payment {
            let inserted = try await connection.query(LedgerSQL.insertPayment(.sqlite), keys + [
                .text(verdict.segment.description), .integer(Int(payment.pixels)), .integer(Int(payment.price.microcreditsPerMegapixel)),
                .integer(Int(payment.amount)), .integer(Int(at.storedSeconds))])
            guard !inserted.isEmpty else { return [] }
            return LedgerBook.pair(farmer: verdict.farmer, submitter: verdict.submitter, task: task, segment: verdict.segment.description,
                                   pixels: payment.pixels, price: payment.price.microcreditsPerMegapixel, amount: payment.amount,
                                   reversal: false, at: at)
        }
        guard !verdict.accepted, let paid = try await connection.query(LedgerSQL.reversePayment(.sqlite), keys).first else { return [] }
        return LedgerBook.pair(farmer: verdict.farmer, submitter: verdict.submitter, task: task, segment: try text(paid, "segment"),
                               pixels: try integer(paid, "pixels"), price: try integer(paid, "price"), amount: try integer(paid, "amount"),
                               reversal: true, at: at)
    }

    public func ledger(of account: PublicIdentity, recent: Int) async throws -> LedgerTotals {
        let id = SQLiteData.text(account.description)
        let (connection, logger) = (connection, logger)
        // Between verdict transactions: a statement the registry signs must never show one half done.
        return try await ledgerGate.run {
            guard let sums = try await connection.query(LedgerSQL.totals(.sqlite), [id]).first else { throw StoredRowError.missingColumn("balance") }
            let entries = try await connection.query(LedgerSQL.recent(.sqlite), [id, .integer(recent)]).compactMap { row in StoredRows.tolerant(logger: logger) {
                try LedgerBook.entry(id: try Self.integer(row, "id"), counterparty: try Self.text(row, "counterparty"), task: try Self.text(row, "task"),
                                     segment: try Self.text(row, "segment"), pixels: try Self.integer(row, "pixels"), price: try Self.integer(row, "price"),
                                     amount: try Self.integer(row, "amount"), verdict: try Self.text(row, "verdict"),
                                     recordedAt: try Self.integer(row, "recorded_at"))
            } }
            return LedgerTotals(balance: try Self.integer(sums, "balance"), credited: try Self.integer(sums, "credited"),
                                debited: try Self.integer(sums, "debited"), pixels: try Self.integer(sums, "pixels"),
                                entryCount: try Self.integer(sums, "entries"), entries: entries)
        }
    }

    public func balances(limit: Int) async throws -> [LedgerBalance] {
        let logger = logger
        return try await connection.query(LedgerSQL.balances(.sqlite), [.integer(limit)]).compactMap { row in StoredRows.tolerant(logger: logger) {
            LedgerBalance(account: try PublicIdentity(try Self.text(row, "account")), balance: try Self.integer(row, "balance"),
                          pixels: try Self.integer(row, "pixels"), entryCount: try Self.integer(row, "entries"))
        } }
    }

    public func applyTrust(_ trusted: Set<PublicIdentity>) async throws {
        let ids = trusted.map(\.description).sorted()
        if ids.isEmpty {
            _ = try await connection.query("UPDATE challenges SET trusted = 0")
        } else {
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            _ = try await connection.query("UPDATE challenges SET trusted = CASE WHEN challenger IN (\(marks)) THEN 1 ELSE 0 END", ids.map { .text($0) })
        }
    }

    public func recordChallenge(_ result: ChallengeResult, receivedAt: Date) async throws {
        _ = try await connection.query("""
            INSERT INTO challenges (challenger, farmer, passed, claimed, measured, findings, received_at, trusted)
            VALUES (?, ?, ?, ?, ?, ?, ?, 1)
            """, [.text(result.challenger.description), .text(result.farmer.description), .integer(result.passed ? 1 : 0),
                  .text(try StoredJSON.text(result.claimed)), .text(try StoredJSON.text(result.measured)),
                  .text(try StoredJSON.text(result.findings)), .integer(Int(receivedAt.storedSeconds))])
    }

    public func farmers(seenSince: Date) async throws -> [FarmerRecord] {
        let since = SQLiteData.integer(Int(seenSince.storedSeconds))
        let logger = logger
        let farmers = try await connection.query(RegistrySchema.liveFarmersQuery(.sqlite), [since]).compactMap { row in StoredRows.tolerant(logger: logger) {
            try StoredRows.farmer(
                id: try Self.text(row, "id"), url: try Self.text(row, "url"), capabilities: try Self.text(row, "capabilities"),
                misbehave: row.column("misbehave")?.string, firstSeen: try Self.integer(row, "first_seen"),
                lastSeen: try Self.integer(row, "last_seen"), verified: try Self.integer(row, "verified"),
                rejected: try Self.integer(row, "rejected"), passed: try Self.integer(row, "passed"),
                failed: try Self.integer(row, "failed"))
        } }
        let latest = try await connection.query(RegistrySchema.latestChallengesQuery(.sqlite), [since]).compactMap { row in StoredRows.tolerant(logger: logger) {
            try StoredRows.challenge(
                challenger: try Self.text(row, "challenger"), farmer: try Self.text(row, "farmer"),
                passed: try Self.integer(row, "passed") != 0, claimed: try Self.text(row, "claimed"),
                measured: try Self.text(row, "measured"), findings: try Self.text(row, "findings"),
                receivedAt: try Self.integer(row, "received_at"))
        } }
        return StoredRows.merge(farmers, latest: latest)
    }

    static func text(_ row: SQLiteRow, _ column: String) throws -> String {
        guard let value = row.column(column)?.string else { throw StoredRowError.missingColumn(column) }
        return value
    }

    static func integer(_ row: SQLiteRow, _ column: String) throws -> Int64 {
        guard let value = row.column(column)?.integer else { throw StoredRowError.missingColumn(column) }
        return Int64(value)
    }
}

/// A stored row lacked a column the schema guarantees: the database was edited by hand or is damaged.
enum StoredRowError: Error, CustomStringConvertible {
    case missingColumn(String)
    var description: String {
        switch self { case .missingColumn(let name): return "stored row has no usable \(name) column" }
    }
}
