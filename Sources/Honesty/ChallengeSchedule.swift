import Foundation

/// When a submitter re-challenges the farmers it is about to use.
///
/// A farmer that knew when it would next be tested could be honest only then, so the interval is drawn
/// afresh for every farmer and every job from an exponential distribution with mean `meanInterval`,
/// using a cryptographically secure generator: a farmer whose latest challenge is `age` seconds old is due
/// with probability 1 − exp(−age / mean), whatever happened before (the distribution is memoryless), and
/// nothing a farmer can see tells it whether the next job will test it. A farmer never challenged is
/// always due. To keep a job from turning into a round of tests, at most `maximumPerJob` due farmers,
/// picked at random, are challenged before it.
public struct ChallengeSchedule: Sendable, Equatable {
    /// One hour: a farmer that turns dishonest meets a challenge within hours, yet a submitter that runs many
    /// jobs rarely delays one for a farmer it tested recently.
    public static let defaultMeanInterval: TimeInterval = 3600
    /// Two challenges (each a few seconds of encoding on the farmer, verification here and a bandwidth probe;
    /// about 20 s for both on a loaded 2-core machine) bound the delay before a job.
    public static let defaultMaximumPerJob = 2

    /// The mean of the exponential distribution, in seconds; positive.
    public var meanInterval: TimeInterval
    /// How many farmers one job challenges at most.
    public var maximumPerJob: Int

    public init(meanInterval: TimeInterval = defaultMeanInterval, maximumPerJob: Int = defaultMaximumPerJob) {
        precondition(meanInterval > 0, "a schedule needs a positive mean interval")
        self.meanInterval = meanInterval
        self.maximumPerJob = maximumPerJob
    }

    /// One interval from the exponential distribution: −mean · ln(U), U uniform in (0, 1].
    public func drawInterval<Generator: RandomNumberGenerator>(using generator: inout Generator) -> TimeInterval {
        // 53 random bits give a uniform double in [0, 1); 1 − that lies in (0, 1], so the logarithm is finite.
        let uniform = 1 - Double(generator.next() >> 11) * 0x1p-53
        return -meanInterval * log(uniform)
    }

    /// Whether a farmer last challenged at `lastChallenged` (nil: never) is due at `now`, with a fresh interval.
    public func isDue<Generator: RandomNumberGenerator>(lastChallenged: Date?, now: Date, using generator: inout Generator) -> Bool {
        guard let lastChallenged else { return true }
        return now.timeIntervalSince(lastChallenged) >= drawInterval(using: &generator)
    }

    /// The farmers to challenge before a job: the due ones, in random order, at most `maximumPerJob`.
    public func pick<Farmer, Generator: RandomNumberGenerator>(_ farmers: [Farmer], lastChallenged: (Farmer) -> Date?, now: Date,
                                                                using generator: inout Generator) -> [Farmer] {
        let due = farmers.filter { isDue(lastChallenged: lastChallenged($0), now: now, using: &generator) }
        return Array(due.shuffled(using: &generator).prefix(max(0, maximumPerJob)))
    }

    /// The farmers to challenge, drawn with the system's cryptographically secure generator.
    public func pick<Farmer>(_ farmers: [Farmer], lastChallenged: (Farmer) -> Date?, now: Date = Date()) -> [Farmer] {
        var generator = SystemRandomNumberGenerator()
        return pick(farmers, lastChallenged: lastChallenged, now: now, using: &generator)
    }

    /// Reads a mean interval as `--rechallenge-mean` takes it: seconds (`90`, `1.5`) or a number with a unit
    /// (`90s`, `30m`, `2h`, `1d`); `0` and `off` give nil (never re-challenge). Throws on anything else.
    public static func parseMeanInterval(_ text: String) throws -> TimeInterval? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "off" || trimmed == "never" { return nil }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(trimmed), scale = 1.0
        if let last = trimmed.last, let unit = units[last] {
            number = number.dropLast()
            scale = unit
        }
        guard let value = Double(number), value.isFinite, value >= 0 else { throw ScheduleInputError(text: text) }
        return value == 0 ? nil : value * scale
    }

    /// A `--rechallenge-mean` value that is neither a duration nor `off`.
    public struct ScheduleInputError: Error, CustomStringConvertible {
        public let text: String
        public var description: String { "--rechallenge-mean must be seconds or a duration such as 90s, 30m, 2h, 1d (or 0/off), not \"\(text)\"" }
    }
}
