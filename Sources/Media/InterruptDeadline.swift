import Foundation
import Synchronization

/// When a blocking FFmpeg call on a network input — waiting for a broadcaster to connect, waiting for its next
/// packet — must give up (FFmpeg's `AVIOInterruptCB` asks this every few milliseconds). Set before each wait.
public final class InterruptDeadline: Sendable {
    /// When the current wait gives up (uptime nanoseconds; nil: never), and whether every wait now gives up.
    private let state = Mutex<(deadline: UInt64?, stopped: Bool)>((nil, false))

    public init() {}

    /// Gives up `seconds` from now (nil: never, until `stop`).
    public func arm(seconds: Double?) {
        let deadline = seconds.map { DispatchTime.now().uptimeNanoseconds + UInt64(max(0, min($0, 1e6)) * 1e9) }
        state.withLock { $0.deadline = deadline }
    }

    /// Gives up now and from now on (the command is ending).
    public func stop() { state.withLock { $0.stopped = true } }

    public var isStopped: Bool { state.withLock { $0.stopped } }

    /// Whether the current wait must end.
    public var expired: Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { $0.stopped || ($0.deadline.map { now >= $0 } ?? false) }
    }
}
