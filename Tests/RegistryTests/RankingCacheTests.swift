import Foundation
import NIOCore
import PrismTestSupport
@testable import Registry
import Testing
import Wire

/// The ranking cache against its promise that nobody reads a ranking older than a write they made, with the
/// computation held open so the order of events is fixed (under load it happened by chance: the computation's
/// settling lagged behind a heartbeat, and a farmer that beat again stayed off the list).
@Suite struct RankingCacheTests {
    static func snapshot(_ generation: Int, listing announcements: [FarmerAnnouncement], at date: Date) -> RankingCache.Snapshot {
        .init(standings: [], json: ByteBuffer(), html: ByteBuffer(), computedAt: date, generation: generation,
              announcements: Dictionary(announcements.map { ($0.farmer, $0) }) { $1 })
    }

    @Test func aHeartbeatDuringAComputationIsNotLostToIt() async throws {
        let cache = RankingCache(maxAge: 1, staleLimit: 5)
        let farmer = TestParty()
        let start = Date(), later = start.addingTimeInterval(91)
        _ = try await cache.current(now: start) { Self.snapshot($0, listing: [farmer.announcement()], at: start) }
        // Past the stale limit the next read computes again; that computation read the farmers before the heartbeat
        // (the farmer had gone stale) and is held until the heartbeat has arrived.
        let (started, startedSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        async let held = cache.current(now: later) { generation in
            startedSignal.yield()
            for await _ in release { break }
            return Self.snapshot(generation, listing: [], at: later)
        }
        for await _ in started { break }
        await cache.heartbeat(farmer.announcement())
        releaseSignal.yield()
        #expect(try await held.announcements.isEmpty)
        // A read after the heartbeat must not be answered by the computation that missed it.
        let after = try await cache.current(now: later) { Self.snapshot($0, listing: [farmer.announcement()], at: later) }
        #expect(after.announcements[farmer.id] != nil)
    }
}
