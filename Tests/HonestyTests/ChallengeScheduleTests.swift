import Foundation
import Honesty
import Media
import Testing

/// The random re-challenge interval `prism submit --registry` draws (a seeded generator here, only so that
/// a failure can be reproduced; the submitter itself draws from the system's secure generator).
@Suite struct ChallengeScheduleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func intervalsFollowAnExponentialDistributionWithTheAskedMean() {
        let schedule = ChallengeSchedule(meanInterval: 600)
        var generator = SeededGenerator(seed: 0xC4A11E)
        let draws = (0..<20_000).map { _ in schedule.drawInterval(using: &generator) }
        #expect(draws.allSatisfy { $0 >= 0 && $0.isFinite })
        let mean = draws.reduce(0, +) / Double(draws.count)
        // The standard error of the mean of 20 000 draws is 600/√20000 ≈ 4.2 s: ±3% is more than four of them.
        #expect(abs(mean - 600) < 18, "mean \(mean)")
        // An exponential's median is mean · ln 2 and a fifth of its draws exceed mean · ln 5.
        let sorted = draws.sorted()
        #expect(abs(sorted[draws.count / 2] - 600 * log(2.0)) < 20, "median \(sorted[draws.count / 2])")
        let beyond = Double(draws.filter { $0 > 600 * log(5.0) }.count) / Double(draws.count)
        #expect(abs(beyond - 0.2) < 0.015, "share beyond mean·ln5: \(beyond)")
    }

    @Test func aFarmerIsDueWithProbabilityGrowingWithTheAgeOfItsLatestChallenge() {
        let schedule = ChallengeSchedule(meanInterval: 3600)
        var generator = SeededGenerator(seed: 42)
        func dueShare(age: TimeInterval) -> Double {
            let due = (0..<10_000).filter { _ in schedule.isDue(lastChallenged: now - age, now: now, using: &generator) }.count
            return Double(due) / 10_000
        }
        // Never challenged: always due. Just challenged: (practically) never.
        #expect((0..<1000).allSatisfy { _ in schedule.isDue(lastChallenged: nil, now: now, using: &generator) })
        #expect(dueShare(age: 0) == 0)
        // 1 − exp(−age/mean): 0.0952 at a tenth of the mean, 0.632 at the mean, 0.950 at three means.
        #expect(abs(dueShare(age: 360) - 0.0952) < 0.015)
        #expect(abs(dueShare(age: 3600) - 0.632) < 0.02)
        #expect(abs(dueShare(age: 10_800) - 0.950) < 0.01)
    }

    @Test func atMostTheLimitOfDueFarmersIsPickedAndNeverOneThatIsNotDue() {
        let schedule = ChallengeSchedule(meanInterval: 3600, maximumPerJob: 2)
        var generator = SeededGenerator(seed: 7)
        let never = ["a", "b", "c", "d", "e"]
        var seen: Set<String> = []
        for _ in 0..<200 {
            let picked = schedule.pick(never, lastChallenged: { _ in nil }, now: now, using: &generator)
            #expect(picked.count == 2 && Set(picked).count == 2)
            seen.formUnion(picked)
        }
        #expect(seen == Set(never), "the pick is random among the due ones")
        // Farmers challenged a minute ago are not due under a mean of years; the one never challenged is, alone.
        let patient = ChallengeSchedule(meanInterval: 86400 * 1000, maximumPerJob: 2)
        let fresh: [String: Date?] = ["new": nil, "x": now, "y": now - 60, "z": now - 1]
        for _ in 0..<200 {
            #expect(patient.pick(Array(fresh.keys), lastChallenged: { fresh[$0]! }, now: now, using: &generator) == ["new"])
        }
        var zero = schedule
        zero.maximumPerJob = 0
        #expect(zero.pick(never, lastChallenged: { _ in nil }, now: now, using: &generator).isEmpty)
    }

    @Test func meanIntervalsAreReadAsSecondsOrDurationsAndZeroOrOffTurnsThemOff() throws {
        #expect(try ChallengeSchedule.parseMeanInterval("90") == 90)
        #expect(try ChallengeSchedule.parseMeanInterval("1.5") == 1.5)
        #expect(try ChallengeSchedule.parseMeanInterval("1s") == 1)
        #expect(try ChallengeSchedule.parseMeanInterval("30m") == 1800)
        #expect(try ChallengeSchedule.parseMeanInterval("2h") == 7200)
        #expect(try ChallengeSchedule.parseMeanInterval("1d") == 86400)
        #expect(try ChallengeSchedule.parseMeanInterval("0") == nil)
        #expect(try ChallengeSchedule.parseMeanInterval("off") == nil)
        for bad in ["", "-5", "soon", "10x", "nan", "inf", "m"] {
            #expect(throws: ChallengeSchedule.ScheduleInputError.self, "\(bad)") { try ChallengeSchedule.parseMeanInterval(bad) }
        }
    }
}
