import Foundation
import Logging
import Wire

/// The registry's schema as numbered migrations, one list per SQL dialect.
///
/// A store applies, in one transaction, every migration whose number is above the highest
/// recorded in `registry_schema`, so a database created by an older registry is brought up to date
/// on start. Migrations are only ever appended, never edited.
enum RegistrySchema {
    enum Dialect { case sqlite, postgres }

    static let versionTable = "CREATE TABLE IF NOT EXISTS registry_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"

    /// Migration `index + 1` is `migrations(dialect)[index]`; each is a list of statements.
    static func migrations(_ dialect: Dialect) -> [[String]] {
        // The only difference between dialects is how an auto-numbered key is spelt.
        let serialKey = dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"
        return [
            [
                """
                CREATE TABLE farmers (
                    id TEXT PRIMARY KEY,
                    url TEXT NOT NULL,
                    capabilities TEXT NOT NULL,
                    misbehave TEXT,
                    first_seen BIGINT NOT NULL,
                    last_seen BIGINT NOT NULL
                )
                """,
                "CREATE INDEX farmers_by_last_seen ON farmers (last_seen)",
                """
                CREATE TABLE verdicts (
                    submitter TEXT NOT NULL,
                    farmer TEXT NOT NULL,
                    segment TEXT NOT NULL,
                    accepted BOOLEAN NOT NULL,
                    reasons TEXT NOT NULL,
                    received_at BIGINT NOT NULL,
                    PRIMARY KEY (submitter, farmer, segment)
                )
                """,
                "CREATE INDEX verdicts_by_farmer ON verdicts (farmer)",
                """
                CREATE TABLE challenges (
                    id \(serialKey),
                    challenger TEXT NOT NULL,
                    farmer TEXT NOT NULL,
                    passed BOOLEAN NOT NULL,
                    claimed TEXT NOT NULL,
                    measured TEXT NOT NULL,
                    findings TEXT NOT NULL,
                    received_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX challenges_by_farmer ON challenges (farmer, received_at)",
            ],
            [
                // Nonces live in the database so that an envelope accepted by one registry instance is
                // refused as a replay by every other instance sharing the database.
                """
                CREATE TABLE seen_nonces (
                    signer TEXT NOT NULL,
                    nonce TEXT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    PRIMARY KEY (signer, nonce)
                )
                """,
                "CREATE INDEX seen_nonces_by_expiry ON seen_nonces (expires_at)",
            ],
            [
                // Standing that keys could buy stops counting: a verdict counts only with the task its farmer-signed
                // receipt names (older rows have none), a challenge only from a trusted challenger (older rows were
                // taken from anyone).
                "ALTER TABLE verdicts ADD COLUMN task TEXT",
                "ALTER TABLE challenges ADD COLUMN trusted BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE INDEX challenges_trusted_by_farmer ON challenges (farmer, trusted, id)",
            ],
        ]
    }

    /// Live farmers with their tallies; the one `?`/`$1` parameter is the oldest `last_seen` still live.
    static func liveFarmersQuery(_ dialect: Dialect) -> String {
        let parameter = dialect == .sqlite ? "?" : "$1"
        return """
        SELECT f.id, f.url, f.capabilities, f.misbehave, f.first_seen, f.last_seen,
            (SELECT COUNT(*) FROM verdicts v WHERE v.farmer = f.id AND v.task IS NOT NULL AND v.accepted) AS verified,
            (SELECT COUNT(*) FROM verdicts v WHERE v.farmer = f.id AND v.task IS NOT NULL AND NOT v.accepted) AS rejected,
            (SELECT COUNT(*) FROM challenges c WHERE c.farmer = f.id AND c.trusted AND c.passed) AS passed,
            (SELECT COUNT(*) FROM challenges c WHERE c.farmer = f.id AND c.trusted AND NOT c.passed) AS failed
        FROM farmers f
        WHERE f.last_seen >= \(parameter)
        """
    }

    /// The newest challenge of every live farmer; same parameter as `liveFarmersQuery`.
    static func latestChallengesQuery(_ dialect: Dialect) -> String {
        let parameter = dialect == .sqlite ? "?" : "$1"
        return """
        SELECT c.challenger, c.farmer, c.passed, c.claimed, c.measured, c.findings, c.received_at
        FROM challenges c
        WHERE c.id = (SELECT MAX(n.id) FROM challenges n WHERE n.farmer = c.farmer AND n.trusted)
          AND c.farmer IN (SELECT f.id FROM farmers f WHERE f.last_seen >= \(parameter))
        """
    }
}

/// Builds records from the columns both stores read, so the two cannot disagree on meaning.
enum StoredRows {
    static func farmer(id: String, url: String, capabilities: String, misbehave: String?, firstSeen: Int64, lastSeen: Int64,
                       verified: Int64, rejected: Int64, passed: Int64, failed: Int64) throws -> FarmerRecord {
        let announcement = FarmerAnnouncement(farmer: try PublicIdentity(id), url: url,
                                              capabilities: try StoredJSON.value(FarmerCapabilities.self, from: capabilities),
                                              misbehave: misbehave)
        return FarmerRecord(announcement: announcement, firstSeen: Date(storedSeconds: firstSeen), lastSeen: Date(storedSeconds: lastSeen),
                            verifiedSegments: Int(verified), rejectedSegments: Int(rejected),
                            challengesPassed: Int(passed), challengesFailed: Int(failed))
    }

    static func challenge(challenger: String, farmer: String, passed: Bool, claimed: String, measured: String,
                          findings: String, receivedAt: Int64) throws -> ChallengeRecord {
        let result = ChallengeResult(challenger: try PublicIdentity(challenger), farmer: try PublicIdentity(farmer), passed: passed,
                                     claimed: try StoredJSON.value(CapabilityFigures.self, from: claimed),
                                     measured: try StoredJSON.value(CapabilityFigures.self, from: measured),
                                     findings: try StoredJSON.value([String].self, from: findings))
        return ChallengeRecord(result: result, receivedAt: Date(storedSeconds: receivedAt))
    }

    /// Rows that do not decode (a database edited by hand, or written by a registry that checked less) are left
    /// out of the list with a log line: stored data must never take the list or the page down.
    static func tolerant<Value>(logger: Logger, _ make: () throws -> Value) -> Value? {
        do { return try make() } catch {
            logger.warning("skipping a stored row that does not decode: \(error)")
            return nil
        }
    }

    /// Attaches each farmer's latest challenge.
    static func merge(_ farmers: [FarmerRecord], latest: [ChallengeRecord]) -> [FarmerRecord] {
        let byFarmer = Dictionary(latest.map { ($0.result.farmer, $0) }, uniquingKeysWith: { $1 })
        return farmers.map { record in
            var record = record
            record.latestChallenge = byFarmer[record.announcement.farmer]
            return record
        }
    }
}
