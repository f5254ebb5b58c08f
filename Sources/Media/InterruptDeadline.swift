import Foundation

/// When a blocking FFmpeg call on a network input — waiting for a broadcaster to connect, waiting for its next
/// packet — must give up (FFmpeg's `AVIOInterruptCB` asks this every few milliseconds). Set before each wait.
public final class InterruptDeadline: @unchecked Sendable {
    private let lock = NSLock()
    private var deadline: UInt64?
    private var stopped = false

    public init() {}

    /// Gives up `seconds` from now (nil: never, until `stop`).
    public func arm(seconds: Double?) {
        lock.withLock {
            deadline = seconds.map { DispatchTime.now().uptimeNanoseconds + UInt64(max(0, min($0, 1e6)) * 1e9) }
        }
    }

    /// Gives up now and from now on (the command is ending).
    public func stop() { lock.withLock { stopped = true } }

    public var isStopped: Bool { lock.withLock { stopped } }

    /// Whether the current wait must end.
    public var expired: Bool {
        lock.withLock { stopped || (deadline.map { DispatchTime.now().uptimeNanoseconds >= $0 } ?? false) }
    }
}
