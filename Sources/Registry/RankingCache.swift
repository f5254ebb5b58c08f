import Foundation
import NIOCore
import Wire

/// The farmer ranking as served, computed at most once per `maxAge` however many submitters poll it.
///
/// Writes that change what the list says (a verdict, a challenge, a new farmer or a changed announcement) invalidate
/// it: the next read waits for a fresh computation, so nobody reads a ranking older than a write they made. A
/// heartbeat that only says "still here" does not; liveness and `lastSeen` are refreshed by age instead — a
/// snapshot older than `maxAge` is served once more while a single refresh runs, and one older than `staleLimit`
/// is not served at all. Concurrent readers share one computation.
actor RankingCache {
    struct Snapshot: Sendable {
        let standings: [FarmerStanding]
        let json: ByteBuffer
        let html: ByteBuffer
        let computedAt: Date
        let generation: Int
        /// What each listed farmer's latest heartbeat said, to tell a changed announcement from a repeated one.
        let announcements: [PublicIdentity: FarmerAnnouncement]
    }

    let maxAge: TimeInterval
    let staleLimit: TimeInterval
    private var snapshot: Snapshot?
    private var generation = 0
    private var refreshing: Task<Snapshot, Error>?

    init(maxAge: TimeInterval = 1, staleLimit: TimeInterval = 5) {
        self.maxAge = maxAge
        self.staleLimit = staleLimit
    }

    /// Something the list shows changed.
    func invalidate() { generation += 1 }

    /// A heartbeat arrived: invalidates when the farmer is not listed or announced something else, and whenever a
    /// computation is in flight — it may have read the farmers before this heartbeat was stored, and `snapshot` is
    /// then older than what that computation will say (a farmer it found stale would stay off the list after beating).
    func heartbeat(_ announcement: FarmerAnnouncement) {
        if refreshing != nil || snapshot?.announcements[announcement.farmer] != announcement { generation += 1 }
    }

    /// The ranking to serve at `now`; `compute` builds a snapshot for a generation.
    func current(now: Date, compute: @escaping @Sendable (Int) async throws -> Snapshot) async throws -> Snapshot {
        if let snapshot, snapshot.generation == generation {
            let age = now.timeIntervalSince(snapshot.computedAt)
            if age >= 0 && age < maxAge { return snapshot }
            if age >= 0 && age < staleLimit {
                if refreshing == nil { _ = refresh(compute) }
                return snapshot
            }
        }
        if let refreshing, try await refreshing.value.generation == generation { return try await refreshing.value }
        return try await refresh(compute).value
    }

    private func refresh(_ compute: @escaping @Sendable (Int) async throws -> Snapshot) -> Task<Snapshot, Error> {
        let wanted = generation
        let task = Task { try await compute(wanted) }
        refreshing = task
        Task { await self.settle(task) }
        return task
    }

    private func settle(_ task: Task<Snapshot, Error>) async {
        let result = try? await task.value
        if let result, result.generation >= (snapshot?.generation ?? Int.min) { snapshot = result }
        if refreshing == task { refreshing = nil }
    }
}
