import Foundation
import Logging
import ServiceLifecycle
import Wire
import Synchronization

/// Where the registry keeps farmers, verdicts and challenge results.
///
/// Two implementations: `SQLiteRegistryStore` (one registry, one file) and
/// `PostgresRegistryStore` (several registry instances sharing one database). A store is a
/// `Service` so the application's service group keeps its connections alive and closes them on
/// shutdown. Times are whole seconds since 1970, taken from the registry's clock, never the sender's.
public protocol RegistryStore: Service {
    /// Creates or updates the farmer's row from its latest heartbeat.
    func recordHeartbeat(_ announcement: FarmerAnnouncement, receivedAt: Date) async throws
    /// Records a verdict; a later verdict by the same submitter on the same farmer and segment replaces it,
    /// so resending one cannot inflate a reputation. In the same transaction, the ledger: an accepted verdict with
    /// a `payment` pays its receipt (farmer credited, submitter debited) unless that receipt was paid before; a
    /// rejected one reverses the receipt's payment if it was paid and not yet reversed.
    func recordVerdict(_ verdict: Verdict, payment: LedgerPayment?, receivedAt: Date) async throws
    /// An account's totals and its newest `recent` entries, newest first.
    func ledger(of account: PublicIdentity, recent: Int) async throws -> LedgerTotals
    /// Accounts with entries, highest balance first, at most `limit`.
    func balances(limit: Int) async throws -> [LedgerBalance]
    /// Records a challenge result.
    func recordChallenge(_ result: ChallengeResult, receivedAt: Date) async throws
    /// Farmers whose last heartbeat is at or after `seenSince`, with their tallies, in no particular order.
    func farmers(seenSince: Date) async throws -> [FarmerRecord]
    /// Records that `signer` used `nonce`, unless it already did: returns false for a nonce seen before
    /// (a replay). Nonces whose `expiresAt` is before `now` are forgotten first.
    func claimNonce(signer: PublicIdentity, nonce: Data, expiresAt: Date, now: Date) async throws -> Bool
    /// Marks stored challenge results as counting exactly when their challenger is in `trusted` (run on start, so a
    /// challenger removed from `--trust-challenger` stops counting, and one added counts for what it reported).
    func applyTrust(_ trusted: Set<PublicIdentity>) async throws
    /// Fails when the database cannot be reached.
    func ping() async throws
    /// Releases the database connection; for a store that will not be (or was not) run. Safe to call twice.
    func close() async throws
}

/// What an accepted verdict's receipt is worth: its pixels at the farmer's price for the task.
public struct LedgerPayment: Sendable, Equatable {
    public var pixels: Int64
    public var price: Price
    /// Microcredits, `price.amount(forPixels: pixels)`.
    public var amount: Int64

    /// nil when the amount cannot be computed (out of range).
    public init?(pixels: Int64, price: Price) {
        guard let amount = price.amount(forPixels: pixels) else { return nil }
        self.pixels = pixels
        self.price = price
        self.amount = amount
    }
}

/// An account's standing in the ledger: sums over all its entries and the newest ones.
public struct LedgerTotals: Sendable, Equatable {
    public var balance: Int64
    public var credited: Int64
    public var debited: Int64
    public var pixels: Int64
    public var entryCount: Int64
    public var entries: [LedgerEntry]
}

/// One line of the registry page's ledger section.
public struct LedgerBalance: Sendable, Equatable {
    public var account: PublicIdentity
    public var balance: Int64
    public var pixels: Int64
    public var entryCount: Int64
}

/// The two entries of a payment or of its reversal, and the stored rows read back; shared by both stores so that
/// they cannot disagree on signs or meaning.
enum LedgerBook {
    struct Row {
        var account: String, counterparty: String, task: String, segment: String
        var pixels: Int64, price: Int64, amount: Int64, verdict: String, recordedAt: Int64
    }

    /// Farmer credited and submitter debited `amount` (a payment), or the other way round (a reversal).
    static func pair(farmer: PublicIdentity, submitter: PublicIdentity, task: String, segment: String, pixels: Int64,
                     price: Int64, amount: Int64, reversal: Bool, at: Date) -> [Row] {
        let signed = reversal ? -amount : amount, verdict = reversal ? "rejected" : "accepted"
        return [Row(account: farmer.description, counterparty: submitter.description, task: task, segment: segment, pixels: pixels,
                    price: price, amount: signed, verdict: verdict, recordedAt: at.storedSeconds),
                Row(account: submitter.description, counterparty: farmer.description, task: task, segment: segment, pixels: pixels,
                    price: price, amount: -signed, verdict: verdict, recordedAt: at.storedSeconds)]
    }

    static func entry(id: Int64, counterparty: String, task: String, segment: String, pixels: Int64, price: Int64, amount: Int64,
                      verdict: String, recordedAt: Int64) throws -> LedgerEntry {
        LedgerEntry(id: id, counterparty: try PublicIdentity(counterparty), task: try ContentAddress(task), segment: try ContentAddress(segment),
                    pixels: pixels, price: Price(microcreditsPerMegapixel: price), amount: amount, verdict: verdict, recordedAt: recordedAt)
    }

    /// A sum the database returned as text (PostgreSQL's NUMERIC) or integer; throws rather than trap when it does
    /// not fit 64 bits.
    static func sum(_ text: String?, _ name: String) throws -> Int64 {
        guard let text, let value = Int64(text) else { throw StoredRowError.missingColumn(name) }
        return value
    }
}

/// Runs the sections that write, one at a time, on a store with a single connection (SQLite): a transaction's
/// statements cannot interleave with another request's.
actor SerialGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<Value: Sendable>(_ body: @Sendable () async throws -> Value) async throws -> Value {
        if busy { await withCheckedContinuation { waiting.append($0) } } else { busy = true }
        defer { if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() } }
        return try await body()
    }
}

/// A farmer as stored: its latest announcement, when it was seen, and what others reported about it.
public struct FarmerRecord: Sendable, Equatable {
    /// Its latest heartbeat.
    public var announcement: FarmerAnnouncement
    /// When its first and latest heartbeats arrived.
    public var firstSeen: Date
    public var lastSeen: Date
    /// Accepted and rejected segments, counting one verdict per submitter and segment.
    public var verifiedSegments: Int
    public var rejectedSegments: Int
    /// Challenges passed and failed.
    public var challengesPassed: Int
    public var challengesFailed: Int
    /// The most recent challenge result, if any.
    public var latestChallenge: ChallengeRecord?

    public init(announcement: FarmerAnnouncement, firstSeen: Date, lastSeen: Date, verifiedSegments: Int = 0,
                rejectedSegments: Int = 0, challengesPassed: Int = 0, challengesFailed: Int = 0,
                latestChallenge: ChallengeRecord? = nil) {
        self.announcement = announcement
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.verifiedSegments = verifiedSegments
        self.rejectedSegments = rejectedSegments
        self.challengesPassed = challengesPassed
        self.challengesFailed = challengesFailed
        self.latestChallenge = latestChallenge
    }
}

/// A stored challenge result and when the registry received it.
public struct ChallengeRecord: Sendable, Equatable {
    public var result: ChallengeResult
    public var receivedAt: Date

    public init(result: ChallengeResult, receivedAt: Date) {
        self.result = result
        self.receivedAt = receivedAt
    }
}

/// The database a registry uses, as written after `--db`.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    /// `sqlite:PATH`
    case sqlite(path: String)
    /// `postgres://user:pass@host:port/db` (also `postgresql://`)
    case postgres(PostgresLocation)

    /// Reads a `--db` value; throws `RegistryInputError.badDatabase` for anything else.
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw RegistryInputError.badDatabase("sqlite: needs a file path, as in sqlite:registry.db") }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(parsing: text))
            return
        }
        throw RegistryInputError.badDatabase("--db must be sqlite:PATH or postgres://user:pass@host:port/db, not \"\(text)\"")
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let location): return location.description
        }
    }
}

/// A PostgreSQL server and database, from a `postgres://` URL.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(host: String, port: Int = 5432, username: String, password: String?, database: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Reads `postgres://user[:pass]@host[:port]/db`.
    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty,
              let username = components.user, !username.isEmpty else {
            throw RegistryInputError.badDatabase("PostgreSQL URL must look like postgres://user:pass@host:port/db")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw RegistryInputError.badDatabase("PostgreSQL URL names no database (postgres://user:pass@host:port/DB)")
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw RegistryInputError.badDatabase("PostgreSQL port \(port) is out of range") }
        self.init(host: host, port: port, username: username.removingPercentEncoding ?? username,
                  password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database)
    }

    /// The URL without its password, for logs and error messages.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}

/// Opens the store a `DatabaseLocation` names, creating or migrating its schema first.
public enum RegistryStores {
    /// Connects, applies pending migrations and returns the store; throws
    /// `RegistryInputError.databaseUnavailable` when the database cannot be opened or reached.
    public static func open(_ location: DatabaseLocation, logger: Logger) async throws -> any RegistryStore {
        switch location {
        case .sqlite(let path): return try await SQLiteRegistryStore.open(path: path, logger: logger)
        case .postgres(let server): return try await PostgresRegistryStore.open(server, logger: logger)
        }
    }
}

/// Input the registry cannot work with: a bad address or database.
public enum RegistryInputError: Error, Equatable, CustomStringConvertible {
    case badListenAddress(String)
    case badDatabase(String)
    case databaseUnavailable(String)
    case cannotListen(String)

    public var description: String {
        switch self {
        case .badListenAddress(let reason), .badDatabase(let reason), .databaseUnavailable(let reason), .cannotListen(let reason):
            return reason
        }
    }
}

/// JSON columns hold Wire values in their canonical encoding.
enum StoredJSON {
    static func text<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try WireCoding.canonicalBytes(value), as: UTF8.self)
    }

    static func value<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        try WireCoding.decode(type, from: Data(text.utf8))
    }
}

extension Date {
    /// Whole seconds since 1970, the unit every stored time uses.
    var storedSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    init(storedSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(storedSeconds)) }
}

/// Expired nonces are swept at most every `interval` seconds of the registry's clock, not on every request: a
/// nonce kept a little past its expiry refuses nothing its timestamp would not refuse anyway.
final class NonceSweep: Sendable {
    let interval: TimeInterval
    private let last = Mutex(Date.distantPast)

    init(interval: TimeInterval = 10) { self.interval = interval }

    func due(at now: Date) -> Bool {
        last.withLock { last in
            guard abs(now.timeIntervalSince(last)) >= interval else { return false }
            last = now
            return true
        }
    }
}
