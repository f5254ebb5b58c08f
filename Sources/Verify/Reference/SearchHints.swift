import Foundation
import Synchronization

/// Where the verifier's reference searches ended last time, per rung, for one job: the quantiser that held a rung's
/// reference keyframe to its size, and the rate factor that brought the rendition's own settings to its keyframe's
/// size. The next segment of the same rung is the same kind of content at the same size, so a search started from
/// there (moved by x264's rate model for the new size) usually needs one encode fewer. Only where a search starts
/// changes: the quantiser search still ends on the smallest quantiser that fits, and the keyframe cost is still read
/// between the encodes nearest its target size.
public final class SearchHints: Sendable {
    private struct Point { let value: Double; let bytes: Int }
    private let points = Mutex<[String: Point]>([:])

    public init() {}

    /// The start for a search towards `bytes` under `key`: the last result moved by 6 steps per doubling, or nil.
    func start(_ key: String, bytes: Int) -> Double? {
        guard bytes > 0, let last = points.withLock({ $0[key] }), last.bytes > 0 else { return nil }
        return last.value + QualityReference.qpStepsPerDoubling * log2(Double(last.bytes) / Double(bytes))
    }

    func record(_ key: String, value: Double, bytes: Int) {
        guard value.isFinite, bytes > 0 else { return }
        points.withLock { $0[key] = Point(value: value, bytes: bytes) }
    }
}
