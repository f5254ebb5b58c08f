import ArgumentParser
import Broker
import FarmClient
import Foundation
import Wire

/// `prism guest`: what runs inside a confidential job's SEV-SNP guest.
struct GuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Inside a confidential job's SEV-SNP guest: fetch the disk key from the submitter's broker.",
        subcommands: [Unlock.self])

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attest to the key broker and write the released disk key (raw bytes) to stdout or --key-out.",
            discussion: """
            Asks the broker for a nonce, makes an X25519 key, gets an SEV-SNP report from this guest's firmware through \
            configfs-tsm (Linux 6.7+, sev-guest loaded) with REPORT_DATA = SHA-512(nonce ‖ key), and posts it to \
            /v1/broker/release. The broker seals the key to that X25519 key only when the report verifies with the \
            expected measurement. Exit 0 with the key; 1 when the broker refuses; 2 for bad input or no report; 3 when \
            the broker cannot be reached or its answer does not check out (with --broker-id: signed by that broker). \
            A confidential job's guest reaches its broker at http://10.0.2.100; its init runs, e.g.: prism guest unlock \
            --broker http://10.0.2.100 --job J --broker-id ed25519:… | cryptsetup open --key-file=- /dev/vda job
            """)

        @Option(help: "The key broker's URL.")
        var broker: String

        @Option(help: "The job id the broker holds the key under.")
        var job: String

        @Option(help: "PEM file with the VCEK (or VLEK), ASK and ARK, when the broker checks AMD's chain.")
        var certificates: String?

        @Option(help: "The broker's ed25519:… id: refuse a key it did not sign (put it in the measured command line).")
        var brokerId: String?

        @Option(help: "Write the key to this file (mode 600) instead of stdout.")
        var keyOut: String?

        @Option(help: "configfs-tsm report folder.")
        var tsm: String = ConfigfsTSM.root

        @Option(help: "Seconds to wait for the broker.")
        var timeout: Double = 30

        func run() async throws {
            guard let url = URL(string: broker), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw CommandFailure.badInput("--broker must be an http(s) URL, not '\(broker)'")
            }
            guard !job.isEmpty, job.utf8.count <= 256 else { throw CommandFailure.badInput("--job must be 1 to 256 bytes") }
            guard timeout > 0, timeout.isFinite else { throw CommandFailure.badInput("--timeout must be positive") }
            var pem: [String]?
            if let certificates {
                guard let text = try? String(contentsOfFile: certificates, encoding: .utf8), text.contains("-----BEGIN") else {
                    throw CommandFailure.badInput("cannot read PEM certificates from \(certificates)")
                }
                pem = [text]
            }
            let trusted: PublicIdentity?
            do { trusted = try brokerId.map { try PublicIdentity($0) } } catch { throw CommandFailure.badInput("--broker-id: \(error)") }
            let agent = GuestAgent(broker: broker, job: job, certificates: pem, brokerIdentity: trusted, timeout: timeout)
            let folder = tsm
            let key: [UInt8]
            do {
                key = try await agent.unlock { try ConfigfsTSM.report(reportData: $0, root: folder) }
            } catch let error as ConfigfsTSMError {
                throw CommandFailure.badInput("\(error)")
            } catch let error as GuestAgent.Failure {
                if case .refused = error { throw CommandFailure.rejected("\(error)") }
                throw CommandFailure(exitCode: 3, message: "\(error)")
            } catch let error as FarmerCallError {
                throw CommandFailure(exitCode: 3, message: "\(error)")
            }
            if let keyOut {
                guard FileManager.default.createFile(atPath: keyOut, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
                    throw CommandFailure.badInput("cannot write \(keyOut)")
                }
            } else {
                FileHandle.standardOutput.write(Data(key))
            }
        }
    }
}
