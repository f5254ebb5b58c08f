import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Wire

/// Calls to a registry: its farmer list, and signed posts (heartbeats, verdicts, challenge results).
public struct RegistryClient: Sendable {
    public let baseURL: String
    public let timeout: Double

    public init(baseURL: String, timeout: Double = 30) {
        self.baseURL = baseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.timeout = timeout
    }

    /// The registry's farmers, best first.
    public func farmers() async throws -> RegistryListing {
        let reply = try await FarmHTTP.send(baseURL + WirePath.farmers, method: .GET, timeout: timeout)
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        do { return try JSONDecoder().decode(RegistryListing.self, from: reply.bytes) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "not a farmer list")
        }
    }

    /// An account's ledger statement, with the registry's signature checked (over this account's path, made within
    /// `window` seconds of now); `registry`, when given, must be the signer.
    public func statement(of account: PublicIdentity, registry: PublicIdentity? = nil,
                          window: TimeInterval = 600) async throws -> (statement: LedgerStatement, envelope: SignedEnvelope) {
        let path = LedgerPath.statement(of: account)
        let reply = try await FarmHTTP.send(baseURL + path, method: .GET, timeout: timeout)
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        let envelope: SignedEnvelope
        do { envelope = try WireCoding.decode(SignedEnvelope.self, from: reply.bytes) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "the ledger statement is not a signed envelope")
        }
        do { try EnvelopeVerifier(window: window).authenticate(envelope, method: SignedEnvelope.responseMethod, path: path) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "the ledger statement's signature does not check out: \(error)")
        }
        let statement: LedgerStatement
        do { statement = try envelope.decodeBody(LedgerStatement.self) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "the signed body is not a ledger statement")
        }
        guard statement.account == account, statement.registry == envelope.signer else {
            throw FarmerCallError.badReply(url: baseURL, reason: "the statement is for another account or names another registry")
        }
        if let registry, registry != envelope.signer {
            throw FarmerCallError.badReply(url: baseURL, reason: "the statement is signed by \(envelope.signer), not the registry \(registry) asked for")
        }
        return (statement, envelope)
    }

    /// Signs `message` for `path` and posts it; throws unless the registry answers 200.
    public func post(_ message: some Encodable, path: String, identity: SigningIdentity) async throws {
        let envelope = try SignedEnvelope.sign(message, method: "POST", path: path, by: identity)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let body = try WireCoding.canonicalBytes(envelope)
        let reply = try await FarmHTTP.send(baseURL + path, method: .POST, headers: headers, body: .bytes(ByteBuffer(bytes: body)), timeout: timeout)
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
    }

    /// Posts and logs a failure instead of throwing: the job or challenge itself stands without the registry.
    public func postLogged(_ message: some Encodable, path: String, identity: SigningIdentity, logger: Logger) async {
        do { try await post(message, path: path, identity: identity) } catch {
            logger.warning("posting to \(baseURL)\(path) failed: \(error)")
        }
    }
}

/// What a submitter reads of `GET /v1/farmers`: each farmer's address and standing, best first.
public struct RegistryListing: Decodable, Sendable {
    public struct Farmer: Decodable, Sendable {
        public struct Standing: Decodable, Sendable {
            public let claims: ClaimStatus
        }
        public let id: PublicIdentity
        public let url: String
        public let reputation: Standing
        /// Unix seconds of the latest challenge, if any.
        public let lastChallengedAt: Int64?
    }
    public let farmers: [Farmer]
}
