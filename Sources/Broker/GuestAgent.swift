import Crypto
import Exec
import FarmClient
import Foundation
import NIOCore
import NIOHTTP1
import Wire

/// The guest's side of key release (`prism guest unlock`, run by a confidential job's initrd): a fresh nonce from
/// the submitter's broker, an ephemeral X25519 key, a report from the guest's own firmware whose REPORT_DATA is
/// SHA-512(nonce ‖ key), and the disk key back HPKE-sealed to that key, which only this guest holds.
public struct GuestAgent: Sendable {
    /// The broker's base URL, e.g. `http://10.0.2.2:8790`.
    public let broker: String
    public let job: String
    /// VCEK/VLEK, ASK/ASVK and ARK (PEM, leaf first) when the broker checks AMD's chain.
    public let certificates: [String]?
    /// The broker's id as the guest was launched to trust it (its measured command line names it): a key signed by
    /// anyone else is refused. Nil takes any broker's answer (the key still only opens the disk it was made for).
    public let brokerIdentity: PublicIdentity?
    public let timeout: Double

    public init(broker: String, job: String, certificates: [String]? = nil, brokerIdentity: PublicIdentity? = nil, timeout: Double = 30) {
        self.broker = broker.hasSuffix("/") ? String(broker.dropLast()) : broker
        self.job = job
        self.certificates = certificates
        self.brokerIdentity = brokerIdentity
        self.timeout = timeout
    }

    /// Why the key did not come.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The broker answered 403: the report or the nonce did not check out.
        case refused(String)
        /// The broker's answer was not what the protocol says.
        case badReply(String)

        public var description: String {
            switch self {
            case .refused(let why): return "the broker refused the key: \(why)"
            case .badReply(let why): return "the broker gave a bad reply: \(why)"
            }
        }
    }

    /// Asks the broker for the job's disk key. `report` gets the 64 bytes of REPORT_DATA and returns the firmware's
    /// 1,184-byte report (`ConfigfsTSM.report` in a real guest). Throws `Failure` or `FarmerCallError`.
    public func unlock(report: ([UInt8]) throws -> [UInt8]) async throws -> [UInt8] {
        let json: HTTPHeaders = ["content-type": "application/json"]
        let nonceURL = broker + KeyBrokerServer.noncePath
        let issued = try await FarmHTTP.send(nonceURL, method: .POST, headers: json, timeout: timeout, maximumBytes: 4096)
        guard issued.status == 200, let object = try? JSONDecoder().decode([String: String].self, from: issued.bytes),
              let hex = object["nonce"], hex.count <= 128, let nonce = Exec.Hex.decode(hex) else {
            throw Failure.badReply("\(nonceURL) answered \(issued.status): \(issued.text)")
        }
        let key = Curve25519.KeyAgreement.PrivateKey()
        let raw = try report(KeyBroker.reportData(nonce: nonce, guestPublicKey: key.publicKey))
        let request = BrokerReleaseRequest(job: job, report: Data(raw).base64EncodedString(),
                                           guestKey: key.publicKey.rawRepresentation.base64EncodedString(), nonce: hex, certificates: certificates)
        let releaseURL = broker + KeyBrokerServer.releasePath
        let answer = try await FarmHTTP.send(releaseURL, method: .POST, headers: json,
                                             body: .bytes(ByteBuffer(data: try JSONEncoder().encode(request))), timeout: timeout, maximumBytes: 64 * 1024)
        switch answer.status {
        case 200:
            guard let sealed = try? JSONDecoder().decode(BrokerWrappedKey.self, from: answer.bytes), sealed.job == job, let wrapped = sealed.wrapped else {
                throw Failure.badReply("\(releaseURL): not a sealed key for job \(job)")
            }
            if let brokerIdentity, !sealed.isSigned(by: brokerIdentity, nonce: nonce, guestKey: key.publicKey.rawRepresentation) {
                throw Failure.badReply("the key is not signed by \(brokerIdentity), the broker this guest trusts")
            }
            do { return try wrapped.unwrap(with: key) } catch { throw Failure.badReply("the sealed key does not open with this guest's key") }
        case 403:
            let message = (try? JSONDecoder().decode([String: String].self, from: answer.bytes))?["message"] ?? answer.text
            throw Failure.refused(message)
        default:
            throw Failure.badReply("\(releaseURL) answered \(answer.status): \(answer.text)")
        }
    }
}

/// An SEV-SNP report from the guest's firmware through the kernel's configfs-tsm interface (Linux 6.7 and later,
/// `sev-guest` loaded): a report entry is made, REPORT_DATA written to its `inblob`, the report read from `outblob`.
public enum ConfigfsTSM {
    public static let root = "/sys/kernel/config/tsm/report"

    public static func report(reportData: [UInt8], root: String = root) throws -> [UInt8] {
        guard reportData.count == 64 else { throw ConfigfsTSMError("REPORT_DATA must be 64 bytes, not \(reportData.count)") }
        let entry = root + "/prism-" + UUID().uuidString.prefix(8).lowercased()
        guard mkdir(entry, 0o700) == 0 else {
            throw ConfigfsTSMError("cannot make \(entry): \(String(cString: strerror(errno))) (is configfs mounted and sev-guest loaded?)")
        }
        defer { rmdir(entry) }
        do {
            try Data(reportData).write(to: URL(fileURLWithPath: entry + "/inblob"))
            let report = try Data(contentsOf: URL(fileURLWithPath: entry + "/outblob"))
            guard report.count >= AttestationReport.size else { throw ConfigfsTSMError("\(entry)/outblob held \(report.count) bytes, not a report") }
            return Array(report.prefix(AttestationReport.size))
        } catch let error as ConfigfsTSMError { throw error } catch {
            throw ConfigfsTSMError("cannot get a report through \(entry): \(error.localizedDescription)")
        }
    }
}

public struct ConfigfsTSMError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
