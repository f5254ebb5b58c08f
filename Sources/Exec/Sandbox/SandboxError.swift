/// Why the sandbox could not run a job at all (as opposed to the job failing inside it).
public enum SandboxError: Error, Equatable, CustomStringConvertible {
    /// The host lacks a program the run needs.
    case engineMissing(String)
    /// A spec for another mode was handed to this runner.
    case wrongMode(String)
    /// The engine started but could not set the sandbox up.
    case setupFailed(String)

    public var description: String {
        switch self {
        case .engineMissing(let detail): return detail
        case .wrongMode(let detail): return detail
        case .setupFailed(let detail): return "sandbox setup failed: \(detail)"
        }
    }
}
