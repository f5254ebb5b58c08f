import Crypto
import Foundation
import Synchronization

/// Fresh challenges for key release: each nonce is random, usable once, and only within its lifetime,
/// so a recorded report cannot be replayed to get a key again.
public final class NonceStore: Sendable {
    /// Why a presented nonce was not accepted.
    public enum Rejection: Error, Equatable {
        case unknown, expired
    }

    /// Nonce length in bytes.
    public static let nonceSize = 32
    private let lifetime: TimeInterval
    private let now: @Sendable () -> Date
    /// Nonces issued and not yet spent, with when each was issued.
    private let issued = Mutex<[[UInt8]: Date]>([:])

    /// `now` is injectable so tests can move time past `lifetime`.
    public init(lifetime: TimeInterval = 120, now: @escaping @Sendable () -> Date = { Date() }) {
        self.lifetime = lifetime
        self.now = now
    }

    /// Issues a new random nonce.
    public func issue() -> [UInt8] {
        let nonce = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        issued.withLock { issued in
            let t = now()
            issued = issued.filter { t.timeIntervalSince($0.value) <= lifetime }  // drop stale ones as we go
            issued[nonce] = t
        }
        return nonce
    }

    /// Spends `nonce`: succeeds once for an issued, unexpired nonce; it cannot be used again either way.
    public func consume(_ nonce: [UInt8]) throws {
        try issued.withLock { issued in
            guard let issuedAt = issued.removeValue(forKey: nonce) else { throw Rejection.unknown }
            guard now().timeIntervalSince(issuedAt) <= lifetime else { throw Rejection.expired }
        }
    }
}
