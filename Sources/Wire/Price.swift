import Foundation

/// A farmer's price: credits per megapixel of output (width × height × frames, summed over a task's rungs), the
/// Livepeer model of paying for pixels delivered. Held as whole microcredits per megapixel so that every amount
/// is exact integer arithmetic: a ledger's balances always equal the sum of its entries, to the microcredit.
public struct Price: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The farm's unit of account. Settlement (what a credit is worth, on which chain) is outside Prism.
    public static let unit = "credit"
    /// Microcredits in a credit.
    public static let microcreditsPerCredit: Int64 = 1_000_000
    /// The highest price a farmer may ask: a thousand credits per megapixel. With receipts bounded by
    /// `MessageLimits`, no amount computed from one can overflow.
    public static let maximum = Price(microcreditsPerMegapixel: 1_000 * microcreditsPerCredit)
    public static let free = Price(microcreditsPerMegapixel: 0)

    public let microcreditsPerMegapixel: Int64

    public init(microcreditsPerMegapixel: Int64) {
        self.microcreditsPerMegapixel = microcreditsPerMegapixel
    }

    /// Reads what a person types: `0.05`, `0.05/megapixel`, `0.05/MP` or `0.05 credit/megapixel`, with at most six
    /// decimals, from 0 to `maximum`. Throws `MessageLimitError` with one line for anything else.
    public init(parsing text: String) throws {
        var rest = text.trimmingCharacters(in: .whitespaces).lowercased()
        for suffix in ["/megapixel", "/mp"] where rest.hasSuffix(suffix) { rest = String(rest.dropLast(suffix.count)) }
        rest = rest.trimmingCharacters(in: .whitespaces)
        for suffix in [" credits", " credit"] where rest.hasSuffix(suffix) { rest = String(rest.dropLast(suffix.count)) }
        let refuse = MessageLimitError("a price is credits per megapixel, from 0 to \(Price.maximum.credits) with at most 6 decimals, as in 0.05/megapixel, not \"\(text.prefix(40))\"")
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 7, parts[0].allSatisfy(\.isASCIIDigit),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].count <= 6 && parts[1].allSatisfy(\.isASCIIDigit)),
              let whole = Int64(parts[0]) else { throw refuse }
        let fraction = parts.count == 2 ? Int64(parts[1] + String(repeating: "0", count: 6 - parts[1].count)) ?? 0 : 0
        let value = Price(microcreditsPerMegapixel: whole * Self.microcreditsPerCredit + fraction)
        guard value <= Self.maximum else { throw refuse }
        self = value
    }

    /// Whether a peer's price may be used: from 0 to `maximum`.
    public func validate(_ name: String = "price") throws {
        guard (0...Self.maximum.microcreditsPerMegapixel).contains(microcreditsPerMegapixel) else {
            throw MessageLimitError("\(name) must be from 0 to \(Self.maximum.microcreditsPerMegapixel) microcredits per megapixel, not \(microcreditsPerMegapixel)")
        }
    }

    /// Microcredits owed for `pixels` at this price, rounded down; nil when either is out of range (never traps).
    public func amount(forPixels pixels: Int64) -> Int64? {
        guard pixels >= 0, (0...Self.maximum.microcreditsPerMegapixel).contains(microcreditsPerMegapixel) else { return nil }
        let product = pixels.multipliedFullWidth(by: microcreditsPerMegapixel)
        // Dividing by a million can only overflow when the high word is at least half a million: refuse instead.
        guard product.high < 500_000 else { return nil }
        return Int64(1_000_000).dividingFullWidth(product).quotient
    }

    /// The price in credits, as typed: `0.05`.
    public var credits: String { Self.credits(microcreditsPerMegapixel) }

    public var description: String { "\(credits) \(Self.unit)/megapixel" }

    /// Microcredits written as credits with the decimals they need (`-1.5`, `0.000042`, `12`); never traps.
    public static func credits(_ microcredits: Int64) -> String { millionths(microcredits) }

    /// Pixels written as megapixels (`27.648`); never traps.
    public static func megapixels(_ pixels: Int64) -> String { millionths(pixels) }

    /// A count of millionths written as a decimal with the digits it needs.
    private static func millionths(_ value: Int64) -> String {
        let negative = value < 0
        let magnitude = value.magnitude
        let whole = magnitude / UInt64(microcreditsPerCredit), fraction = magnitude % UInt64(microcreditsPerCredit)
        var text = String(whole)
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return negative ? "-" + text : text
    }

    public static func < (lhs: Price, rhs: Price) -> Bool { lhs.microcreditsPerMegapixel < rhs.microcreditsPerMegapixel }

    public init(from decoder: Decoder) throws {
        self.init(microcreditsPerMegapixel: try decoder.singleValueContainer().decode(Int64.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(microcreditsPerMegapixel)
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// The paths of the registry's ledger.
public enum LedgerPath {
    /// `GET /v1/ledger/ID`: the account's statement, signed by the registry.
    public static let prefix = "/v1/ledger/"
    public static func statement(of account: PublicIdentity) -> String { prefix + account.description }
}

/// One line of an account's ledger. Every payment is two entries (the farmer credited, the submitter debited the
/// same amount), and so is its reversal: the entries of the whole ledger always sum to zero.
public struct LedgerEntry: Codable, Sendable, Equatable {
    /// Increasing with every entry the registry writes.
    public var id: Int64
    /// The other side of the payment (the submitter, for a farmer's entry; the farmer, for a submitter's).
    public var counterparty: PublicIdentity
    /// The task the farmer's receipt names, and the source segment.
    public var task: ContentAddress
    public var segment: ContentAddress
    /// Rendition pixels from the receipt (width × height × frames, summed over rungs).
    public var pixels: Int64
    /// The farmer's price for that task, from its signed receipt.
    public var price: Price
    /// Microcredits: positive credits this account, negative debits it.
    public var amount: Int64
    /// `accepted` for a payment, `rejected` for the reversal of one whose segment was rejected later.
    public var verdict: String
    /// When the registry wrote it, seconds since 1970 on the registry's clock.
    public var recordedAt: Int64

    public init(id: Int64, counterparty: PublicIdentity, task: ContentAddress, segment: ContentAddress, pixels: Int64, price: Price,
                amount: Int64, verdict: String, recordedAt: Int64) {
        self.id = id
        self.counterparty = counterparty
        self.task = task
        self.segment = segment
        self.pixels = pixels
        self.price = price
        self.amount = amount
        self.verdict = verdict
        self.recordedAt = recordedAt
    }
}

/// An account's statement, as the registry signs it: its balance, the sum of all its entries, and the newest ones.
public struct LedgerStatement: Codable, Sendable, Equatable {
    /// The registry that kept the ledger (the envelope's signer).
    public var registry: PublicIdentity
    /// The farmer or submitter.
    public var account: PublicIdentity
    public var unit: String
    /// Microcredits: credits minus debits, over every entry.
    public var balance: Int64
    /// Sums of the positive and negative entries.
    public var credited: Int64
    public var debited: Int64
    /// Rendition pixels paid for net of reversals, and the number of entries.
    public var pixels: Int64
    public var entryCount: Int64
    /// The newest entries, newest first (at most `LedgerStatement.recentEntries`).
    public var entries: [LedgerEntry]
    /// When the registry made the statement.
    public var generatedAt: Int64

    public static let recentEntries = 200

    public init(registry: PublicIdentity, account: PublicIdentity, unit: String = Price.unit, balance: Int64, credited: Int64, debited: Int64,
                pixels: Int64, entryCount: Int64, entries: [LedgerEntry], generatedAt: Int64) {
        self.registry = registry
        self.account = account
        self.unit = unit
        self.balance = balance
        self.credited = credited
        self.debited = debited
        self.pixels = pixels
        self.entryCount = entryCount
        self.entries = entries
        self.generatedAt = generatedAt
    }
}

extension SegmentReceipt {
    /// Rendition pixels this receipt claims, when every rung's figures are in range and `pixels` is exactly
    /// width × height × frames; nil otherwise (such a receipt is paid nothing).
    public var payablePixels: Int64? {
        guard (MessageLimits.rungs).contains(rungs.count) else { return nil }
        var total: Int64 = 0
        for rung in rungs {
            guard MessageLimits.rungWidth.contains(rung.width), MessageLimits.rungHeight.contains(rung.height),
                  MessageLimits.receiptFrames.contains(rung.frames),
                  rung.pixels == Int64(rung.frames) * Int64(rung.width) * Int64(rung.height) else { return nil }
            total += rung.pixels
        }
        return total
    }
}
