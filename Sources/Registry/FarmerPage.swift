import Foundation
import Wire

/// The registry's server-rendered HTML page: every live farmer, its claims beside what challenges
/// measured, and its reputation. Every value a farmer supplied is escaped, since farmers are untrusted.
public enum FarmerPage {
    /// The whole page.
    public static func render(_ standings: [FarmerStanding], generatedAt: Date, heartbeatTTL: TimeInterval,
                              trustedChallengers: Set<PublicIdentity> = [], balances: [LedgerBalance] = [],
                              registry: PublicIdentity? = nil) -> String {
        let dates = ISO8601DateFormatter()
        var html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Prism registry</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2rem; }
        table { border-collapse: collapse; }
        th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
        th { background: #f3f3f3; }
        .proven { color: #0a6a0a; } .disproven { color: #a00; } .unchallenged { color: #666; }
        code { font-size: 0.85em; }
        </style>
        </head>
        <body>
        <h1>Prism registry</h1>
        <p>\(standings.count) live farmer\(standings.count == 1 ? "" : "s") (heartbeat within \(format(heartbeatTTL)) s), best first.
        Generated \(escape(dates.string(from: generatedAt))).</p>
        <p><small>Standing moves only on evidence: a segment verdict counts only with the farmer's signed receipt for that
        submitter's task (one per segment); challenge results are taken only from the challengers this registry trusts
        (\(trustedChallengers.isEmpty ? "none: claims stay unchallenged" : trustedChallengers.map { "<code>\(escape($0.description))</code>" }.sorted().joined(separator: ", "))).
        Heartbeats only state claims.</small></p>

        """
        if standings.isEmpty {
            html += "<p>No live farmers.</p>\n"
        } else {
            html += """
            <table>
            <thead><tr><th>#</th><th>farmer</th><th>URL</th><th>encoders<br>claimed / measured</th>
            <th>frames/s<br>claimed / measured</th><th>sessions<br>claimed / measured</th>
            <th>bandwidth, Mbit/s<br>claimed / measured</th><th>price, \(Price.unit)/megapixel</th>
            <th>jobs</th><th>claims</th><th>segments<br>verified / rejected</th><th>challenges<br>passed / failed</th><th>score</th><th>version</th></tr></thead>
            <tbody>

            """
            for (index, farmer) in standings.enumerated() {
                let claimed = farmer.claimed, measured = farmer.measured, reputation = farmer.reputation
                let claims = reputation.claims.rawValue + (farmer.misbehave.map { " (misbehaving: \($0))" } ?? "")
                html += "<tr>"
                html += cell("\(index + 1)")
                html += "<td><code>\(escape(farmer.id.description))</code></td>"
                html += "<td><a href=\"\(escape(farmer.url))\">\(escape(farmer.url))</a></td>"
                html += cell(claimed.encoders.joined(separator: ", ") + " / " + (measured?.encoders.map { $0.joined(separator: ", ") } ?? "–"))
                html += cell(format(claimed.framesPerSecond) + " / " + (measured?.framesPerSecond.map(format) ?? "–"))
                html += cell("\(claimed.sessions) / " + (measured?.sessions.map(String.init) ?? "–"))
                html += cell("– / " + bandwidth(measured))
                html += cell(claimed.price.credits)
                html += cell(claimed.jobs.map { $0.modes.isEmpty ? "–" : $0.modes.joined(separator: ", ") } ?? "–")
                html += "<td class=\"\(reputation.claims.rawValue)\">\(escape(claims))"
                if let at = farmer.lastChallengedAt {
                    html += "<br><small>challenged \(escape(dates.string(from: Date(timeIntervalSince1970: TimeInterval(at)))))</small>"
                }
                if let findings = farmer.findings, !findings.isEmpty {
                    html += "<br><small>" + findings.map(escape).joined(separator: "<br>") + "</small>"
                }
                html += "</td>"
                html += cell("\(reputation.verifiedSegments) / \(reputation.rejectedSegments)")
                html += cell("\(reputation.challengesPassed) / \(reputation.challengesFailed)")
                html += cell(String(format: "%.2f", reputation.score))
                html += cell(claimed.version)
                html += "</tr>\n"
            }
            html += "</tbody>\n</table>\n"
        }
        html += ledger(balances, registry: registry)
        html += "</body>\n</html>\n"
        return html
    }

    /// The ledger section: every account with entries, highest balance first, in credits.
    private static func ledger(_ balances: [LedgerBalance], registry: PublicIdentity?) -> String {
        var html = "<h2>Ledger</h2>\n<p><small>Farmers are credited for segments a submitter accepted, at the price the farmer signed into its "
            + "receipt, per megapixel of rendition delivered; the submitter is debited the same. A rejected segment earns nothing, and a "
            + "segment rejected after it was paid is reversed. Each account's statement, signed by this registry"
            + (registry.map { " (<code>\(escape($0.description))</code>)" } ?? "") + ", is at <code>\(LedgerPath.prefix)ID</code>.</small></p>\n"
        guard !balances.isEmpty else { return html + "<p>No entries yet.</p>\n" }
        html += "<table>\n<thead><tr><th>account</th><th>balance, \(Price.unit)s</th><th>megapixels</th><th>entries</th></tr></thead>\n<tbody>\n"
        for line in balances {
            html += "<tr><td><code>\(escape(line.account.description))</code></td>" + cell(Price.credits(line.balance))
                + cell(Price.megapixels(line.pixels)) + cell("\(line.entryCount)") + "</tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }

    private static func cell(_ text: String) -> String { "<td>\(escape(text))</td>" }

    /// Measured bandwidth each way, as "up 812, down 640"; farmers claim none, so the claimed side is always "–".
    private static func bandwidth(_ measured: CapabilityFigures?) -> String {
        let up = measured?.uploadBitsPerSecond, down = measured?.downloadBitsPerSecond
        if up == nil && down == nil { return "–" }
        return "up " + (up.map { format(($0 / 1e6).rounded()) } ?? "–") + ", down " + (down.map { format(($0 / 1e6).rounded()) } ?? "–")
    }

    /// Never traps: whatever a store holds, a figure is printed (integers as such, huge or odd values with `%g`).
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return abs(value) < 1e6 ? String(format: "%.1f", value) : String(format: "%.3g", value)
    }

    /// Escapes text for HTML element content and double-quoted attributes.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
