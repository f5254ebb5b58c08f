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
        return try run(launch, timeSeconds: spec.limits.timeSeconds, standardOutput: standardOutput, standardError: standardError).status
    }

    /// Boots `launch` (a job sent over the network builds its own: blobs as the guest's files, the order's hash as
    /// host-data) and returns QEMU's exit status, 124 when `timeSeconds` ran out first, and the wall seconds.
    public func run(_ launch: ConfidentialLaunch, timeSeconds: Double?, standardOutput: FileHandle,
                    standardError: FileHandle) throws -> (status: Int32, wallSeconds: Double) {
        let started = Date()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launch.qemu)
        process.arguments = launch.arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = standardOutput
        process.standardError = standardError
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        try process.run()
        if let seconds = timeSeconds {
            if ended.wait(timeout: .now() + seconds) == .timedOut {
                process.terminate()
                process.waitUntilExit()
                return (124, Date().timeIntervalSince(started))
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, Date().timeIntervalSince(started))
    }
}
