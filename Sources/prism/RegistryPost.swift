import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Wire

/// Posts one signed message to a registry and waits for the answer; a registry that is down or refuses
/// is logged, never fatal (the job or challenge itself stands).
enum RegistryPost {
    static func send(_ message: some Encodable, path: String, to registry: String, identity: SigningIdentity, logger: Logger) {
        do {
            let envelope = try SignedEnvelope.sign(message, method: "POST", path: path, by: identity)
            guard let url = URL(string: registry.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
                logger.warning("registry URL \(registry) is not a URL")
                return
            }
            var request = URLRequest(url: url)
            request.httpMethod = "POST"
            request.httpBody = try WireCoding.canonicalBytes(envelope)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            let done = DispatchSemaphore(value: 0)
            URLSession.shared.dataTask(with: request) { _, response, error in
                if let error {
                    logger.warning("posting to \(registry)\(path) failed: \(error.localizedDescription)")
                } else if let status = (response as? HTTPURLResponse)?.statusCode, status != 200 {
                    logger.warning("\(registry)\(path) refused: HTTP \(status)")
                }
                done.signal()
            }.resume()
            done.wait()
        } catch {
            logger.warning("posting to \(registry)\(path) failed: \(error)")
        }
    }
}
