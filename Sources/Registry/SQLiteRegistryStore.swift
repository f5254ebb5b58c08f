import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SQLiteNIO
import Wire

/// A registry store in one SQLite file: the default, for a single registry instance.
public final class SQLiteRegistryStore: RegistryStore, @unchecked Sendable {  // unchecked: `isClosed` only under `closeLock`
    private let connection: SQLiteConnection
    private let logger: Logger
    private let closeLock = NSLock()
    private var isClosed = false
    private let sweep = NonceSweep()

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
        let first = closeLock.withLock { () -> Bool in
            defer { isClosed = true }
            return !isClosed
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

    public func recordVerdict(_ verdict: Verdict, receivedAt: Date) async throws {
        _ = try await connection.query("""
            INSERT INTO verdicts (submitter, farmer, segment, accepted, reasons, received_at, task) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (submitter, farmer, segment) DO UPDATE SET accepted = excluded.accepted,
                reasons = excluded.reasons, received_at = excluded.received_at, task = excluded.task
            """, [.text(verdict.submitter.description), .text(verdict.farmer.description), .text(verdict.segment.description),
                  .integer(verdict.accepted ? 1 : 0), .text(try StoredJSON.text(verdict.reasons)),
                  .integer(Int(receivedAt.storedSeconds)), verdict.task.map { .text($0.description) } ?? .null])
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

    private static func text(_ row: SQLiteRow, _ column: String) throws -> String {
        guard let value = row.column(column)?.string else { throw StoredRowError.missingColumn(column) }
        return value
    }

    private static func integer(_ row: SQLiteRow, _ column: String) throws -> Int64 {
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
