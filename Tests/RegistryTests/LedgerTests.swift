import Foundation
import Hummingbird
import HummingbirdTesting
import PrismTestSupport
import Registry
import SQLiteNIO
import Testing
import Wire

/// The ledger over the registry's real routes: accepted verdicts pay their receipts at the farmer's signed price,
/// replays pay nothing, a later rejection reverses, every statement is signed by the registry and balances equal the
/// sum of entries. The same scenario runs on SQLite and on PostgreSQL, and both must end with the same statements.
@Suite struct LedgerTests {
    /// What the scenario leaves in each account, without ids and times (which differ between databases).
    struct Account: Equatable {
        var balance: Int64, credited: Int64, debited: Int64, pixels: Int64, entries: Int64
        var lines: [String]
    }

    static let cheap = Price(microcreditsPerMegapixel: 20_000)   // 0.02 credit per megapixel
    static let dear = Price(microcreditsPerMegapixel: 30_000)

    /// Fetches and checks an account's signed statement.
    static func statement(_ client: any TestClientProtocol, _ account: PublicIdentity, registry: PublicIdentity,
                          clock: ManualClock) async throws -> LedgerStatement {
        try await client.execute(uri: LedgerPath.statement(of: account), method: .get) { response in
            #expect(response.status == .ok)
            let envelope = try WireCoding.decode(SignedEnvelope.self, from: Data(response.body.readableBytesView))
            #expect(envelope.signer == registry, "signed with the registry's key")
            let verifier = EnvelopeVerifier(window: 120, now: { clock.now })
            try verifier.authenticate(envelope, method: SignedEnvelope.responseMethod, path: LedgerPath.statement(of: account))
            // A statement moved to another account's path does not check out.
            #expect(throws: EnvelopeError.self) {
                try verifier.authenticate(envelope, method: SignedEnvelope.responseMethod, path: LedgerPath.statement(of: TestParty().id))
            }
            let statement = try envelope.decodeBody(LedgerStatement.self)
            #expect(statement.account == account && statement.registry == registry)
            #expect(statement.balance == statement.entries.reduce(0) { $0 + $1.amount }, "the balance is the sum of the entries")
            #expect(statement.credited + statement.debited == statement.balance)
            return statement
        }
    }

    static func summary(_ statement: LedgerStatement) -> Account {
        Account(balance: statement.balance, credited: statement.credited, debited: statement.debited, pixels: statement.pixels,
                entries: statement.entryCount,
                lines: statement.entries.map { "\($0.counterparty) \($0.segment) \($0.pixels) \($0.price.microcreditsPerMegapixel) \($0.amount) \($0.verdict)" })
    }

    /// Two farmers at different prices, one submitter: payments, a replay, a verdict without a price, a reversal, a
    /// receipt whose pixels do not multiply out. Returns every account's summary.
    static func scenario(store: any RegistryStore) async throws -> (parties: [String: PublicIdentity], accounts: [String: Account]) {
        let clock = ManualClock(Date())
        let registryKey = SigningIdentity()
        let farmerA = TestParty(), farmerB = TestParty(), submitter = TestParty()
        let accounts = Collected<[String: Account]>([:])
        try await withRegistry(store: store, clock: clock, identity: registryKey) { client in
            func post(_ verdict: Verdict) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
                try await client.post(WirePath.verdicts, try submitter.signed(verdict, path: WirePath.verdicts, at: clock.now))
            }
            let segments = (0..<4).map { Segment.address("ledger-segment-\($0)") }
            // Farmer A: two accepted segments at 0.02/MP, 60 and 90 frames of 640x360.
            let a0 = try farmerA.provenVerdict(by: submitter, segment: segments[0], accepted: true, at: clock.now, price: cheap, frames: 60)
            let a1 = try farmerA.provenVerdict(by: submitter, segment: segments[1], accepted: true, at: clock.now, price: cheap, frames: 90)
            // Farmer B: one accepted at 0.03/MP, later rejected (its farmer caught on an audit); one rejected outright.
            let b2 = try farmerB.provenVerdict(by: submitter, segment: segments[2], accepted: true, at: clock.now, price: dear, frames: 60)
            let b3 = try farmerB.provenVerdict(by: submitter, segment: segments[3], accepted: false, reasons: ["watermark-region"],
                                               at: clock.now, price: dear, frames: 60)
            for verdict in [a0, a1, b2, b3] { #expect(try await post(verdict).status == .ok) }
            // The same verdict posted again (a fresh envelope around the same receipt) pays nothing more.
            #expect(try await post(a0).status == .ok)
            // B's accepted segment found bad later: its payment is reversed, once, however often that is said.
            var b2Rejected = b2
            b2Rejected.accepted = false
            b2Rejected.reasons = ["watermark-region"]
            #expect(try await post(b2Rejected).status == .ok)
            #expect(try await post(b2Rejected).status == .ok)
            // Accepted again after the reversal: the receipt was paid once already, and is never paid twice.
            #expect(try await post(b2).status == .ok)
            // A receipt claiming pixels that are not width x height x frames is refused, and stores nothing.
            let forged = try farmerA.provenVerdict(by: submitter, segment: Segment.address("forged"), accepted: true, at: clock.now,
                                                   price: cheap, frames: 60, pixels: 1_000_000_000)
            let refused = try await post(forged)
            #expect(refused.status == .unprocessableContent && refused.json["error"] as? String == "unpayable-receipt", "\(refused)")

            let pixels0 = Int64(60 * 640 * 360), pixels1 = Int64(90 * 640 * 360)
            let owedA = (pixels0 * 20_000) / 1_000_000 + (pixels1 * 20_000) / 1_000_000
            let a = try await statement(client, farmerA.id, registry: registryKey.publicIdentity, clock: clock)
            #expect(a.balance == owedA && a.balance > 0, "farmer A is paid its pixels at its price: \(a.balance) vs \(owedA)")
            #expect(a.pixels == pixels0 + pixels1 && a.entryCount == 2)
            let b = try await statement(client, farmerB.id, registry: registryKey.publicIdentity, clock: clock)
            #expect(b.balance == 0 && b.entryCount == 2, "farmer B's only accepted segment was reversed: \(b)")
            #expect(b.entries.map(\.verdict) == ["rejected", "accepted"])
            let s = try await statement(client, submitter.id, registry: registryKey.publicIdentity, clock: clock)
            #expect(s.balance == -owedA, "the submitter is debited what the farmers were credited")
            #expect(s.entryCount == 4)

            // The page shows the balances.
            try await client.execute(uri: "/", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("<h2>Ledger</h2>") && html.contains(farmerA.id.description))
                #expect(html.contains("<td>\(Price.credits(owedA))</td>") && html.contains("<td>-\(Price.credits(owedA))</td>"), "\(html.suffix(1200))")
            }
            let bad = try await client.execute(uri: LedgerPath.prefix + "not-an-id", method: .get) { $0.status }
            #expect(bad == .badRequest)
            accounts.set(["farmerA": summary(a), "farmerB": summary(b), "submitter": summary(s)])
        }
        return (["farmerA": farmerA.id, "farmerB": farmerB.id, "submitter": submitter.id], accounts.get())
    }

    /// Names an account's counterparties by role, so two runs with different keys compare.
    static func byRole(_ run: (parties: [String: PublicIdentity], accounts: [String: Account])) -> [String: Account] {
        run.accounts.mapValues { account in
            var account = account
            account.lines = account.lines.map { line in
                var line = line
                for (role, id) in run.parties { line = line.replacingOccurrences(of: id.description, with: role) }
                return line
            }
            return account
        }
    }

    @Test func sqliteLedgerPaysAcceptedReceiptsOnceAndReversesRejections() async throws {
        let folder = try TemporaryFolder("ledger-sqlite")
        defer { folder.remove() }
        _ = try await Self.scenario(store: try await openSQLiteStore(in: folder))
    }

    @Test(.enabled(if: TestPostgres.url != nil, TestPostgres.skipReason))
    func postgresAndSQLiteLedgersAgree() async throws {
        let folder = try TemporaryFolder("ledger-both")
        defer { folder.remove() }
        let sqlite = Self.byRole(try await Self.scenario(store: try await openSQLiteStore(in: folder)))
        var postgres: [String: Account] = [:]
        try await TestPostgres.withFreshDatabase { location, _ in
            postgres = Self.byRole(try await Self.scenario(store: try await PostgresRegistryStore.open(location, logger: testLogger)))
        }
        #expect(!sqlite.isEmpty && sqlite == postgres, "SQLite \(sqlite) vs PostgreSQL \(postgres)")
    }

    /// Verdicts for the same receipt posted at once (as from several registries or a retrying client) pay it once:
    /// the ledger still sums to zero and the farmer holds exactly one payment.
    @Test func concurrentVerdictsOnOneReceiptPayItOnce() async throws {
        let folder = try TemporaryFolder("ledger-concurrent")
        defer { folder.remove() }
        let clock = ManualClock(Date())
        let registryKey = SigningIdentity()
        let farmer = TestParty(), submitter = TestParty()
        try await withRegistry(store: try await openSQLiteStore(in: folder), clock: clock, identity: registryKey, over: .live) { client in
            let verdict = try farmer.provenVerdict(by: submitter, segment: Segment.address("raced"), accepted: true, at: clock.now, price: Self.cheap)
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await client.post(WirePath.verdicts, try submitter.signed(verdict, path: WirePath.verdicts, at: clock.now)).status }
                }
                for try await status in group { #expect(status == .ok) }
            }
            let paid = try await Self.statement(client, farmer.id, registry: registryKey.publicIdentity, clock: clock)
            let debited = try await Self.statement(client, submitter.id, registry: registryKey.publicIdentity, clock: clock)
            #expect(paid.entryCount == 1 && paid.balance == (Int64(60 * 640 * 360) * 20_000) / 1_000_000)
            #expect(debited.balance == -paid.balance)
        }
    }

    /// Rows written past 64 bits by hand: the page still renders (without balances) and the statement answers a JSON
    /// error, never a crash.
    @Test func aLedgerTheDatabaseCannotSumLeavesThePageUp() async throws {
        let folder = try TemporaryFolder("ledger-overflow")
        defer { folder.remove() }
        let account = TestParty()
        let store = try await openSQLiteStore(in: folder)
        try await store.close()
        let connection = try await SQLiteConnection.open(storage: .file(path: folder.path("registry.sqlite")), logger: testLogger)
        for _ in 0..<2 {
            _ = try await connection.query("""
                INSERT INTO ledger_entries (account, counterparty, task, segment, pixels, price, amount, verdict, recorded_at)
                VALUES (?, ?, ?, ?, 1, 1, 9223372036854775807, 'accepted', 0)
                """, [.text(account.id.description), .text(TestParty().id.description), .text(Segment.address("t").description),
                      .text(Segment.address("s").description)])
        }
        try await connection.close()
        try await withRegistry(store: try await openSQLiteStore(in: folder), clock: ManualClock(Date())) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("<h2>Ledger</h2>"))
            }
            try await client.execute(uri: LedgerPath.statement(of: account.id), method: .get) { response in
                #expect(response.status == .internalServerError)
                let json = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(json?["error"] as? String == "ledger-unreadable")
            }
        }
    }
}

/// A value a `@Sendable` closure hands back to its caller.
final class Collected<Value>: @unchecked Sendable {  // unchecked: `value` only under `lock`
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
