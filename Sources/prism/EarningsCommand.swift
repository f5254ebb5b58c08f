import ArgumentParser
import FarmClient
import Foundation
import Wire

/// `prism earnings`: an account's balance and recent entries, from the registry's signed ledger statement.
struct EarningsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "earnings",
        abstract: "Show what a farmer earned (or a submitter spent) on a registry's ledger, with the statement's signature checked.",
        discussion: """
        Fetches GET /v1/ledger/ID for the key's identity and checks the registry's signature over it. Amounts are in \
        \(Price.unit)s (a million microcredits each); a farmer is credited, at the price its signed receipt names, for the \
        rendition pixels of every segment a submitter accepted. --save keeps the signed statement: anyone can check it \
        against the registry's id, which is how a statement maps to a payout (see docs/yields.md).
        """)

    @Option(help: "Registry URL.")
    var registry: String

    @Option(help: "The account's key file (a farmer's or a submitter's, from `prism keys generate`).")
    var key: String

    @Option(help: "The registry's id (ed25519:…): refuse a statement signed by any other key.")
    var registryId: String?

    @Option(help: "Write the signed statement (JSON) to this file.")
    var save: String?

    @Flag(help: "Print the statement as JSON.")
    var json = false

    func run() async throws {
        let account = try KeyFileOption.load(key).publicIdentity
        let expected: PublicIdentity?
        do { expected = try registryId.map { try PublicIdentity($0) } } catch { throw CommandFailure.badInput("--registry-id: \(error)") }
        let statement: LedgerStatement, envelope: SignedEnvelope
        do {
            (statement, envelope) = try await RegistryClient(baseURL: registry).statement(of: account, registry: expected)
        } catch let error as FarmerCallError {
            switch error {
            case .badReply: throw CommandFailure.rejected("\(error)")
            default: throw CommandFailure.badInput("cannot read the ledger of \(registry): \(error)")
            }
        }
        if let save {
            do { try WireCoding.canonicalBytes(envelope).write(to: URL(fileURLWithPath: save)) } catch {
                throw CommandFailure.badInput("cannot write \(save): \(error.localizedDescription)")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Output(statement: statement, signer: envelope.signer, signatureChecked: true,
                                                               balanceCredits: Price.credits(statement.balance))), as: UTF8.self))
            return
        }
        let dates = ISO8601DateFormatter()
        print("\(statement.account) on \(registry)")
        print("statement signed by registry \(envelope.signer) at \(dates.string(from: Date(timeIntervalSince1970: TimeInterval(statement.generatedAt)))): signature checked")
        print("balance \(Price.credits(statement.balance)) \(Price.unit)s (credited \(Price.credits(statement.credited)), debited \(Price.credits(statement.debited))) for \(Price.megapixels(statement.pixels)) megapixels in \(statement.entryCount) entries")
        if !statement.entries.isEmpty { print("newest entries:") }
        for entry in statement.entries.prefix(20) {
            let sign = entry.amount >= 0 ? "+" : ""
            print("  \(dates.string(from: Date(timeIntervalSince1970: TimeInterval(entry.recordedAt))))  \(sign)\(Price.credits(entry.amount))  \(entry.verdict)  \(Price.megapixels(entry.pixels)) MP at \(entry.price.credits)/MP  task \(entry.task.description.prefix(19))…  with \(entry.counterparty)")
        }
    }

    struct Output: Encodable {
        let statement: LedgerStatement
        let signer: PublicIdentity
        let signatureChecked: Bool
        let balanceCredits: String
    }
}
