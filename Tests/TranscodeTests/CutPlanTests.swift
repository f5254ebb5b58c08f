import Media
import Testing
@testable import Transcode

/// Where a source is cut for the farm, from packets alone.
@Suite struct CutPlanTests {
    /// 25 fps in a 1/12800 time base (MP4's usual), B-frames in decode order: I P B B P B B …
    static func packets(frames: Int, keyframes: Set<Int>, size: (Int, Bool) -> Int = { _, key in key ? 40_000 : 5_000 }) -> [SourcePacket] {
        let tick: Int64 = 512
        var order: [Int] = []
        var index = 0
        while index < frames {
            if keyframes.contains(index) || index + 3 > frames {
                order.append(index)
                index += 1
            } else if keyframes.contains(index + 1) || keyframes.contains(index + 2) {
                order.append(index)
                index += 1
            } else {
                // A P-frame two ahead, then the two B-frames before it.
                order += [index + 2, index, index + 1]
                index += 3
            }
        }
        return order.map { SourcePacket(pts: Int64($0) * tick, isKeyFrame: keyframes.contains($0), size: size($0, keyframes.contains($0)), duration: tick) }
    }

    static let timeBase = Rational(num: 1, den: 12800)

    @Test func keyframesEveryOneToTwoAndAHalfSecondsAreCutThereAsTheirOwnPackets() throws {
        // Keyframes at 0, 1.2, 3.6, 5.0, 7.4, 8.6 s (frames at 25 fps), 10 s in all.
        let keys: Set<Int> = [0, 30, 90, 125, 185, 215]
        let packets = Self.packets(frames: 250, keyframes: keys)
        let plan = try #require(CutPlan.make(packets: packets, timeBase: Self.timeBase, segmentSeconds: 2))
        #expect(plan.cutting == .keyframes)
        // Each cut is the first keyframe at or after the next multiple of 2 s: 3.6, 5.0, 7.4, 8.6 s.
        #expect(plan.segments.map { $0.start / 512 } == [0, 90, 125, 185, 215])
        #expect(plan.segments.allSatisfy { $0.carriage == .packets && $0.rangeBytes == $0.ownBytes })
        #expect(plan.segments.map(\.frames).reduce(0, +) == 250)
        #expect(plan.packetBytesSent == plan.videoBytes, "every byte goes out exactly once")
    }

    @Test func aSingleKeyframeSourceIsCutEveryTwoSecondsPrimedFromItsKeyframe() throws {
        let packets = Self.packets(frames: 200, keyframes: [0])
        let plan = try #require(CutPlan.make(packets: packets, timeBase: Self.timeBase, segmentSeconds: 2))
        #expect(plan.cutting == .nominal)
        #expect(plan.segments.map { $0.start / 512 } == [0, 50, 100, 150])
        #expect(plan.segments.map(\.frames) == [50, 50, 50, 50])
        // Every segment decodes from the one keyframe; the first only needs the P-frame its last B-frames refer to.
        #expect(plan.segments.allSatisfy { $0.firstPacket == 0 && $0.carriage != .packets })
        #expect(plan.segments[0].carriage == .primed && plan.segments[0].rangeBytes - plan.segments[0].ownBytes <= 5_000)
        // Priming grows with the distance from the keyframe (1, 2, 3, 4 segments' worth), but the job as a whole stays
        // within its byte budget, so nothing is re-encoded by the submitter.
        #expect(plan.segments.allSatisfy { $0.carriage == .primed })
        #expect(Double(plan.packetBytesSent) <= CutPlan.jobByteBudget * Double(plan.videoBytes))
    }

    @Test func pastTheJobsByteBudgetTheSegmentsFurthestFromTheKeyframeGoAsMezzanines() throws {
        // 20 s, one keyframe: primed all through, the job would send 5.5× its video bytes.
        let packets = Self.packets(frames: 500, keyframes: [0])
        let plan = try #require(CutPlan.make(packets: packets, timeBase: Self.timeBase, segmentSeconds: 2))
        #expect(plan.segments.count == 10)
        let mezzanines = plan.segments.filter { $0.carriage == .mezzanine }.map(\.index)
        #expect(!mezzanines.isEmpty && mezzanines == Array((10 - mezzanines.count)..<10), "the furthest segments: \(mezzanines)")
        #expect(plan.segments.prefix(10 - mezzanines.count).allSatisfy { $0.carriage == .primed })
        // With mezzanines at their estimated weight, the job is within budget; one mezzanine fewer and it would not be.
        func estimate(_ segments: [CutPlan.Segment]) -> Double {
            segments.reduce(0) { $0 + ($1.carriage == .mezzanine ? CutPlan.mezzanineByteRatio * Double($1.ownBytes) : Double($1.rangeBytes)) }
        }
        let budget = CutPlan.jobByteBudget * Double(plan.videoBytes)
        #expect(estimate(plan.segments) <= budget)
        let firstMezzanine = try #require(mezzanines.first)
        #expect(estimate(plan.segments) - CutPlan.mezzanineByteRatio * Double(plan.segments[firstMezzanine].ownBytes)
                + Double(plan.segments[firstMezzanine].rangeBytes) > budget)
    }

    @Test func packetsThatCannotBeCutWithoutDecodingGiveNoPlan() {
        var repeated = Self.packets(frames: 50, keyframes: [0])
        repeated[5] = SourcePacket(pts: repeated[4].pts, isKeyFrame: false, size: 100, duration: 512)
        #expect(CutPlan.make(packets: repeated, timeBase: Self.timeBase, segmentSeconds: 2) == nil, "repeated timestamps")
        let noKeyframeFirst = Array(Self.packets(frames: 50, keyframes: [0, 25]).dropFirst())
        #expect(CutPlan.make(packets: noKeyframeFirst, timeBase: Self.timeBase, segmentSeconds: 2) == nil, "starts mid-GOP")
        #expect(CutPlan.make(packets: [], timeBase: Self.timeBase, segmentSeconds: 2) == nil)
    }
}
