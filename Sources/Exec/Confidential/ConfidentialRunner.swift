import Foundation

/// Runs confidential-mode jobs as SEV-SNP guests under QEMU, after checking the host can.
public struct ConfidentialRunner: Sendable {
    public let support: SEVSupport

    /// Checks this host; throws `ConfidentialError.hostUnsupported` naming everything missing.
    public init(support: SEVSupport = .probe()) throws {
        guard support.snpUsable else { throw ConfidentialError.hostUnsupported(support.missingForSNP) }
        self.support = support
    }

    /// Boots the guest for `spec` and returns QEMU's exit status when the guest powers off. The guest's
    /// console goes to the handles given.
    public func run(_ spec: JobSpec, standardOutput: FileHandle = .standardOutput,
                    standardError: FileHandle = .standardError) throws -> Int32 {
        guard spec.mode == .confidential else { throw SandboxError.wrongMode("ConfidentialRunner runs confidential-mode jobs only") }
        try spec.validate()
        let launch = try ConfidentialLaunch(spec: spec, qemu: support.qemu?.path ?? "qemu-system-x86_64")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launch.qemu)
        process.arguments = launch.arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = standardOutput
        process.standardError = standardError
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        try process.run()
        if let seconds = spec.limits.timeSeconds {
            if ended.wait(timeout: .now() + seconds) == .timedOut {
                process.terminate()
                process.waitUntilExit()
                return 124
            }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
