import Foundation

extension SignedEnvelope {
    /// The HTTP header that carries an envelope when the request body is raw bytes (a segment upload) or
    /// empty (a signed GET).
    public static let headerName = "X-Prism-Envelope"

    /// The envelope as one header value: base64 of its JSON.
    public func headerValue() throws -> String {
        try WireCoding.canonicalBytes(self).base64EncodedString()
    }

    /// Reads an envelope from a header value; nil when it is not one.
    public init?(headerValue: String) {
        guard let data = Data(base64Encoded: headerValue),
              let envelope = try? JSONDecoder().decode(SignedEnvelope.self, from: data) else { return nil }
        self = envelope
    }
}

/// Paths of a farmer's HTTP API.
public enum FarmerPath {
    public static let capabilities = "/v1/capabilities"
    public static let tasks = "/v1/tasks"
    public static let bandwidth = "/v1/bandwidth"
    /// Where a task's output for one rung is served to the submitter who sent the task.
    public static func output(task: String, height: Int) -> String { "/v1/tasks/\(task)/outputs/\(height)" }
}

extension FarmerPath {
    /// The name a farmer files a task under: SHA-256 of the submitter's id and the task's address, hex.
    /// Both sides compute it, and a different submitter sending the same task gets a different name.
    public static func taskKey(task: ContentAddress, submitter: PublicIdentity) -> String {
        Hex.encode(ContentAddress(hashing: Data((submitter.description + "|" + task.description).utf8)).digest)
    }
}

/// A signed bandwidth measurement request: the challenger uploads `uploadBytes` random bytes and the
/// farmer answers with `downloadBytes` random bytes. Sizes are the challenger's secret until sent.
public struct BandwidthProbe: Codable, Sendable, Equatable {
    public static let maximumBytes = 64 << 20
    public var uploadBytes: Int
    public var downloadBytes: Int
    public init(uploadBytes: Int, downloadBytes: Int) {
        self.uploadBytes = uploadBytes
        self.downloadBytes = downloadBytes
    }
}

/// A task's reply with its outputs in the same answer, so a segment costs one round trip instead of one for the
/// receipt and one per rung. A submitter asks for it with `Accept: application/vnd.prism.task-bundle`; a farmer that
/// does not know it answers the receipt alone (JSON) and the outputs stay at `FarmerPath.output`.
///
/// Layout: the signed receipt's length (4 bytes, big-endian) and its bytes, then for each of the receipt's rungs in
/// its order that output's length (8 bytes, big-endian) and its bytes. Nothing follows the last output.
public enum TaskBundle {
    public static let mediaType = "application/vnd.prism.task-bundle"
    /// Largest signed receipt a bundle may open with (a twelve-rung receipt is about 3 KB).
    public static let maximumReceiptBytes = 64 << 10
}
