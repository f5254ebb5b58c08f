import ArgumentParser
import Exec
import Foundation

extension AttestationInputError: BadInputFailure {}

/// `prism attest`: SEV-SNP report verification and launch-measurement computation.
struct AttestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Verify AMD SEV-SNP attestation reports and compute expected launch measurements.",
        subcommands: [AttestVerifyCommand.self, AttestMeasureCommand.self]
    )
}
