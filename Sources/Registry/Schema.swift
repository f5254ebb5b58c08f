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
            [
                // The ledger. A payment is keyed by the receipt it pays (farmer, submitter, task), so the same
                // receipt can never be paid twice; each payment and each reversal writes two entries that sum to
                // zero (double entry), in the same transaction as the verdict.
                """
                CREATE TABLE payments (
                    farmer TEXT NOT NULL,
                    submitter TEXT NOT NULL,
                    task TEXT NOT NULL,
                    segment TEXT NOT NULL,
                    pixels BIGINT NOT NULL,
                    price BIGINT NOT NULL,
                    amount BIGINT NOT NULL,
                    paid_at BIGINT NOT NULL,
                    reversed BOOLEAN NOT NULL DEFAULT FALSE,
                    PRIMARY KEY (farmer, submitter, task)
                )
                """,
                """
                CREATE TABLE ledger_entries (
                    id \(serialKey),
                    account TEXT NOT NULL,
                    counterparty TEXT NOT NULL,
                    task TEXT NOT NULL,
                    segment TEXT NOT NULL,
                    pixels BIGINT NOT NULL,
                    price BIGINT NOT NULL,
                    amount BIGINT NOT NULL,
                    verdict TEXT NOT NULL,
                    recorded_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX ledger_entries_by_account ON ledger_entries (account, id)",
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

/// The ledger's queries, the same text for both dialects but for parameter marks.
enum LedgerSQL {
    static func mark(_ dialect: RegistrySchema.Dialect, _ index: Int) -> String { dialect == .sqlite ? "?" : "$\(index)" }

    /// Inserts the payment unless that receipt was paid before; returns its row when inserted.
    static func insertPayment(_ dialect: RegistrySchema.Dialect) -> String {
        let m = (1...8).map { mark(dialect, $0) }
        return """
        INSERT INTO payments (farmer, submitter, task, segment, pixels, price, amount, paid_at)
        VALUES (\(m[0]), \(m[1]), \(m[2]), \(m[3]), \(m[4]), \(m[5]), \(m[6]), \(m[7]))
        ON CONFLICT (farmer, submitter, task) DO NOTHING RETURNING amount
        """
    }

    /// Marks the receipt's payment reversed, once; returns what it paid when it was not reversed before.
    static func reversePayment(_ dialect: RegistrySchema.Dialect) -> String {
        """
        UPDATE payments SET reversed = TRUE
        WHERE farmer = \(mark(dialect, 1)) AND submitter = \(mark(dialect, 2)) AND task = \(mark(dialect, 3)) AND NOT reversed
        RETURNING segment, pixels, price, amount
        """
    }

    static func insertEntry(_ dialect: RegistrySchema.Dialect) -> String {
        let m = (1...9).map { mark(dialect, $0) }
        return """
        INSERT INTO ledger_entries (account, counterparty, task, segment, pixels, price, amount, verdict, recorded_at)
        VALUES (\(m[0]), \(m[1]), \(m[2]), \(m[3]), \(m[4]), \(m[5]), \(m[6]), \(m[7]), \(m[8]))
        """
    }

    /// One account's totals: balance, credits, debits, pixels net of reversals and entry count.
    static func totals(_ dialect: RegistrySchema.Dialect) -> String {
        // Sums as text in PostgreSQL (its SUM of BIGINT is NUMERIC), parsed and range-checked by the store.
        let cast = dialect == .sqlite ? "" : "::TEXT"
        return """
        SELECT COALESCE(SUM(amount), 0)\(cast) AS balance,
            COALESCE(SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END), 0)\(cast) AS credited,
            COALESCE(SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END), 0)\(cast) AS debited,
            COALESCE(SUM(CASE WHEN verdict = 'accepted' THEN pixels ELSE -pixels END), 0)\(cast) AS pixels,
            COUNT(*)\(cast) AS entries
        FROM ledger_entries WHERE account = \(mark(dialect, 1))
        """
    }

    static func recent(_ dialect: RegistrySchema.Dialect) -> String {
        """
        SELECT id, counterparty, task, segment, pixels, price, amount, verdict, recorded_at
        FROM ledger_entries WHERE account = \(mark(dialect, 1)) ORDER BY id DESC LIMIT \(mark(dialect, 2))
        """
    }

    /// Every account's balance, highest first, for the registry page.
    static func balances(_ dialect: RegistrySchema.Dialect) -> String {
        let cast = dialect == .sqlite ? "" : "::TEXT"
        return """
        SELECT account, SUM(amount)\(cast) AS balance,
            SUM(CASE WHEN verdict = 'accepted' THEN pixels ELSE -pixels END)\(cast) AS pixels, COUNT(*)\(cast) AS entries
        FROM ledger_entries GROUP BY account ORDER BY SUM(amount) DESC, account LIMIT \(mark(dialect, 1))
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
