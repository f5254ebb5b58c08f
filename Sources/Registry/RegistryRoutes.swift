import Foundation
import Hummingbird
import Logging
import NIOCore
import Wire

/// Tunables of a registry; defaults suit a farm whose farmers send a heartbeat every 30 s.
public struct RegistryConfiguration: Sendable {
    /// A farmer drops out of the list this long after its last heartbeat (three missed 30 s beats).
    public var heartbeatTTL: TimeInterval = 90
    /// Envelopes dated further than this from the registry's clock are refused.
    public var replayWindow: TimeInterval = 120
    /// Largest request body read; Wire messages are a few kilobytes, so anything near this is abuse.
    public var maxBodyBytes: Int = 64 * 1024
    /// The registry's clock; tests replace it to age farmers and envelopes.
    public var now: @Sendable () -> Date = { Date() }
    /// Challengers whose results are taken (`--trust-challenger`); everyone else's are refused, so a farmer's
    /// standing cannot be moved by keys anyone can make.
    public var trustedChallengers: Set<PublicIdentity> = []
    /// A connection that sends no complete request part for this long is closed (a client trickling its
    /// headers a byte at a time included).
    public var idleTimeoutSeconds = 30
    /// A verdict's proof, the farmer's signed receipt, may be at most this old.
    public var receiptMaxAge: TimeInterval = 24 * 3600
    /// The registry's own key, which signs ledger statements (`--key`); without one a registry makes a key for
    /// the run, and its statements can be checked only while it runs.
    public var identity = SigningIdentity()
    /// Accounts the registry page's ledger section lists.
    public var ledgerAccountsShown = 50

    public init() {}
}

/// An error answered as `{"error": CODE, "message": TEXT}` with its status.
public struct RegistryAPIError: HTTPResponseError {
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// A short stable code clients can branch on (`unsigned`, `replayed`, `malformed-json`, …).
    public let code: String
    /// One line for people.
    public let message: String

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, ["error": code, "message": message])
    }
}

enum JSONResponse {
    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable) -> Response {
        let body = (try? WireCoding.canonicalBytes(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// One debug line per request, `METHOD PATH -> STATUS`, so `prism registry serve --verbose` shows traffic
/// (the message itself, since the CLI's log lines carry no metadata).
struct RequestOutcomeLog<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            logger.debug("\(request.method) \(request.uri.path) -> \(response.status.code)")
            return response
        } catch let error as HTTPResponseError {
            logger.debug("\(request.method) \(request.uri.path) -> \(error.status.code)")
            throw error
        } catch {
            logger.error("\(request.method) \(request.uri.path) -> 500: \(error)")
            throw error
        }
    }
}

/// The registry's HTTP routes over a store.
///
/// - `POST /v1/heartbeats`, `/v1/verdicts`, `/v1/challenges`: a `SignedEnvelope` whose signer must be
///   the farmer, submitter or challenger the message speaks for (else 401).
/// - `GET /v1/farmers`: live farmers best first, as `FarmerList`.
/// - `GET /`: the same as an HTML page.
/// - `GET /v1/ledger/ID`: the account's ledger statement, a `SignedEnvelope` signed by the registry's key.
/// - `GET /healthz`: 200 when the database answers, 503 when it does not.
public struct RegistryRoutes: Sendable {
    let store: any RegistryStore
    let configuration: RegistryConfiguration
    let verifier: EnvelopeVerifier
    let logger: Logger
    let ranking = RankingCache()

    public init(store: any RegistryStore, configuration: RegistryConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.verifier = EnvelopeVerifier(window: configuration.replayWindow, now: configuration.now)
        self.logger = logger
    }

    /// A router with every registry route.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestOutcomeLog(logger: logger))
        router.get("/healthz") { _, _ in try await self.health() }
        router.get(RouterPath(WirePath.farmers)) { _, _ in try await self.farmerList() }
        router.get("/") { _, _ in try await self.farmerPage() }
        router.get(RouterPath(LedgerPath.prefix + ":account")) { _, context in
            try await self.statement(of: context.parameters.get("account") ?? "")
        }
        router.post(RouterPath(WirePath.heartbeats)) { request, _ in
            let (signer, announcement) = try await self.open(request, as: FarmerAnnouncement.self, path: WirePath.heartbeats)
            try Self.require(signer, speaksFor: announcement.farmer)
            try Self.limited(code: "invalid-announcement") { try announcement.validate() }
            try await self.store.recordHeartbeat(announcement, receivedAt: self.configuration.now())
            await self.ranking.heartbeat(announcement)
            self.logger.debug("heartbeat from \(announcement.farmer) at \(announcement.url)")
            return JSONResponse.make(AcceptedReply(accepted: true, heartbeatTTLSeconds: Int(self.configuration.heartbeatTTL)))
        }
        router.post(RouterPath(WirePath.verdicts)) { request, _ in
            let (signer, verdict) = try await self.open(request, as: Verdict.self, path: WirePath.verdicts)
            try Self.require(signer, speaksFor: verdict.submitter)
            guard verdict.submitter != verdict.farmer else {
                throw RegistryAPIError(.badRequest, code: "self-verdict", message: "a farmer cannot judge its own segments")
            }
            try Self.limited(code: "out-of-range") { try verdict.validate() }
            let receipt = try self.requireProof(of: verdict)
            let payment = try Self.payment(for: verdict, receipt: receipt)
            try await self.store.recordVerdict(verdict, payment: payment, receivedAt: self.configuration.now())
            await self.ranking.invalidate()
            self.logger.debug("verdict on \(verdict.farmer): \(verdict.accepted ? "accepted" : "rejected")")
            return JSONResponse.make(AcceptedReply(accepted: true, heartbeatTTLSeconds: nil))
        }
        router.post(RouterPath(WirePath.challenges)) { request, _ in
            let (signer, result) = try await self.open(request, as: ChallengeResult.self, path: WirePath.challenges)
            try Self.require(signer, speaksFor: result.challenger)
            guard result.challenger != result.farmer else {
                throw RegistryAPIError(.badRequest, code: "self-challenge", message: "a farmer cannot challenge itself")
            }
            try Self.limited(code: "out-of-range") { try result.validate() }
            guard self.configuration.trustedChallengers.contains(result.challenger) else {
                throw RegistryAPIError(.forbidden, code: "untrusted-challenger",
                                       message: "\(result.challenger) is not a challenger this registry trusts (--trust-challenger)")
            }
            try await self.store.recordChallenge(result, receivedAt: self.configuration.now())
            await self.ranking.invalidate()
            self.logger.debug("challenge of \(result.farmer): \(result.passed ? "passed" : "failed")")
            return JSONResponse.make(AcceptedReply(accepted: true, heartbeatTTLSeconds: nil))
        }
        return router
    }

    struct AcceptedReply: Encodable {
        var accepted: Bool
        var heartbeatTTLSeconds: Int?
    }

    /// Live farmers best first (from the cached ranking).
    public func standings() async throws -> [FarmerStanding] {
        try await snapshot().standings
    }

    private func snapshot() async throws -> RankingCache.Snapshot {
        let now = configuration.now()
        let (store, configuration) = (self.store, self.configuration)
        return try await ranking.current(now: now) { generation in
            let computedAt = configuration.now()
            let records = try await store.farmers(seenSince: computedAt.addingTimeInterval(-configuration.heartbeatTTL))
            let standings = FarmerStanding.preferenceOrder(records)
            // A ledger the database cannot sum (rows written by hand past 64 bits) leaves the section empty, not the page down.
            let balances: [LedgerBalance]
            do { balances = try await store.balances(limit: configuration.ledgerAccountsShown) } catch {
                logger.error("ledger balances unreadable: \(error)")
                balances = []
            }
            let json = (try? WireCoding.canonicalBytes(FarmerList(farmers: standings, heartbeatTTLSeconds: Int(configuration.heartbeatTTL)))) ?? Data("{}".utf8)
            let html = FarmerPage.render(standings, generatedAt: computedAt, heartbeatTTL: configuration.heartbeatTTL,
                                         trustedChallengers: configuration.trustedChallengers, balances: balances,
                                         registry: configuration.identity.publicIdentity)
            return .init(standings: standings, json: ByteBuffer(bytes: json), html: ByteBuffer(string: html), computedAt: computedAt,
                         generation: generation, announcements: Dictionary(records.map { ($0.announcement.farmer, $0.announcement) }) { $1 })
        }
    }

    // The list changes with every verdict and heartbeat: no cache (a client's or a proxy's) may answer for it.
    private func farmerList() async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
                 body: .init(byteBuffer: try await snapshot().json))
    }

    private func farmerPage() async throws -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                 body: .init(byteBuffer: try await snapshot().html))
    }

    private func health() async throws -> Response {
        do {
            try await store.ping()
            return JSONResponse.make(["status": "ok"])
        } catch {
            logger.error("health check: database unreachable: \(error)")
            return JSONResponse.make(status: .serviceUnavailable, ["status": "database unreachable"])
        }
    }

    /// Reads, verifies and decodes a signed request body; every failure becomes a 4xx with a JSON reason.
    private func open<Message: Decodable>(_ request: Request, as type: Message.Type,
                                          path: String) async throws -> (PublicIdentity, Message) {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw RegistryAPIError(.contentTooLarge, code: "body-too-large",
                                   message: "request body exceeds \(configuration.maxBodyBytes) bytes")
        }
        let bytes = Data(buffer.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: bytes) else {
            throw RegistryAPIError(.badRequest, code: "malformed-json", message: "request body is not JSON")
        }
        // A bare message (JSON without the envelope's fields) is unsigned: an authentication failure, not a syntax one.
        guard let fields = object as? [String: Any], fields["signature"] != nil, fields["signer"] != nil else {
            throw RegistryAPIError(.unauthorized, code: "unsigned", message: "request is not a signed envelope")
        }
        let envelope: SignedEnvelope
        do { envelope = try WireCoding.decode(SignedEnvelope.self, from: bytes) } catch {
            throw RegistryAPIError(.badRequest, code: "malformed-envelope", message: "signed envelope is malformed: \(Self.summary(error))")
        }
        let signer: PublicIdentity
        do {
            signer = try verifier.authenticate(envelope, method: "POST", path: path)
            // The nonce ledger is the database, shared by every registry instance on it.
            guard try await store.claimNonce(signer: signer, nonce: envelope.nonce, expiresAt: verifier.nonceExpiry(of: envelope),
                                             now: configuration.now()) else {
                throw EnvelopeError.replayed
            }
        } catch let error as EnvelopeError {
            logger.notice("refused envelope from \(envelope.signer) on \(path): \(error)")
            throw RegistryAPIError(.unauthorized, code: error.code, message: error.description)
        }
        do { return (signer, try envelope.decodeBody(type)) } catch {
            throw RegistryAPIError(.badRequest, code: "malformed-message",
                                   message: "signed body is not a \(Message.self): \(Self.summary(error))")
        }
    }

    private static func require(_ signer: PublicIdentity, speaksFor claimed: PublicIdentity) throws {
        guard signer == claimed else {
            let error = EnvelopeError.signerMismatch(signer: signer, claimed: claimed)
            throw RegistryAPIError(.unauthorized, code: error.code, message: error.description)
        }
    }

    /// Values out of `MessageLimits` are refused where they enter (400, `code`), so nothing stored can trap a page or a sum.
    private static func limited(code: String, _ check: () throws -> Void) throws {
        do { try check() } catch let error as MessageLimitError {
            throw RegistryAPIError(.badRequest, code: code, message: error.description)
        }
    }

    /// A verdict counts only for work that happened: the farmer's signed receipt for this submitter's task,
    /// naming the verdict's task and segment. Anything else is refused (nothing stored), so standing cannot be
    /// moved with throwaway keys; the primary key keeps one verdict per submitter and segment.
    private func requireProof(of verdict: Verdict) throws -> SegmentReceipt {
        func refuse(_ why: String) -> RegistryAPIError {
            RegistryAPIError(.unprocessableContent, code: "unproven-verdict", message: "a verdict needs the farmer's signed receipt for the task: \(why)")
        }
        guard let envelope = verdict.receipt, let task = verdict.task else { throw refuse("none attached") }
        let receiptVerifier = EnvelopeVerifier(window: configuration.receiptMaxAge, now: configuration.now)
        do { try receiptVerifier.authenticate(envelope, method: SignedEnvelope.responseMethod, path: FarmerPath.tasks) } catch {
            throw refuse("\(error)")
        }
        guard envelope.signer == verdict.farmer, let receipt = try? envelope.decodeBody(SegmentReceipt.self), receipt.farmer == verdict.farmer else {
            throw refuse("not signed by the farmer judged")
        }
        guard receipt.submitter == verdict.submitter else { throw refuse("the receipt is for another submitter's task") }
        guard receipt.task == task, receipt.input == verdict.segment else { throw refuse("the receipt names another task or segment") }
        return receipt
    }

    /// What an accepted verdict pays: the receipt's rendition pixels at the price the farmer signed into it. A receipt
    /// whose figures are out of range or do not multiply out is refused (nothing stored), so no amount can be
    /// forged past `MessageLimits`; a rejected verdict pays nothing and needs no figures.
    static func payment(for verdict: Verdict, receipt: SegmentReceipt) throws -> LedgerPayment? {
        guard verdict.accepted else { return nil }
        let price = receipt.price ?? .free
        guard (try? price.validate()) != nil, let pixels = receipt.payablePixels, let payment = LedgerPayment(pixels: pixels, price: price) else {
            throw RegistryAPIError(.unprocessableContent, code: "unpayable-receipt",
                                   message: "the receipt's rungs, pixels (width x height x frames) or price are out of range")
        }
        return payment
    }

    /// The account's statement, signed by this registry so its holder can show it to anyone.
    private func statement(of text: String) async throws -> Response {
        let account: PublicIdentity
        do { account = try PublicIdentity(text) } catch {
            throw RegistryAPIError(.badRequest, code: "bad-account", message: "not an account id (ed25519:<base58>): \(text.prefix(80))")
        }
        let totals: LedgerTotals
        do { totals = try await store.ledger(of: account, recent: LedgerStatement.recentEntries) } catch {
            logger.error("ledger of \(account) unreadable: \(error)")
            throw RegistryAPIError(.internalServerError, code: "ledger-unreadable", message: "the ledger of \(account) cannot be read from the database")
        }
        let statement = LedgerStatement(registry: configuration.identity.publicIdentity, account: account, balance: totals.balance,
                                        credited: totals.credited, debited: totals.debited, pixels: totals.pixels,
                                        entryCount: totals.entryCount, entries: totals.entries,
                                        generatedAt: configuration.now().storedSeconds)
        let signed = try SignedEnvelope.sign(statement, method: SignedEnvelope.responseMethod, path: LedgerPath.statement(of: account),
                                             by: configuration.identity, at: configuration.now())
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try WireCoding.canonicalBytes(signed))))
    }

    /// One line of a decoding error, without Swift's long context dumps.
    private static func summary(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default: return String(describing: error)
        }
    }
}
