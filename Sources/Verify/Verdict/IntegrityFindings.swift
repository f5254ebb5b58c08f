import Foundation

/// Turns per-sample evidence into integrity reasons and located regions.
struct IntegrityFindings {
    let evidence: [SampleEvidence]
    /// The verifier's own reference encode over the frames up to a rendition frame, per block (nil when it cannot
    /// be made): asked only for blocks a blur is suspected in.
    let referenceTexture: (Int) -> ReferenceBlockTexture?
    private(set) var regions: [RegionFinding] = []
    private(set) var meanExcess: [Float] = []
    let columns: Int
    let rows: Int
    let blockSize: Int

    init(evidence: [SampleEvidence], referenceTexture: @escaping (Int) -> ReferenceBlockTexture? = { _ in nil }) {
        self.evidence = evidence
        self.referenceTexture = referenceTexture
        columns = evidence.first?.blocks.columns ?? 0
        rows = evidence.first?.blocks.rows ?? 0
        blockSize = evidence.first?.blocks.blockSize ?? 16
    }

    mutating func reasons() -> [VerificationReason] {
        var reasons: [VerificationReason] = []
        let count = evidence.count
        func times(_ samples: [SampleEvidence]) -> String {
            samples.prefix(4).map { String(format: "%.2f s", $0.time) }.joined(separator: ", ") + (samples.count > 4 ? ", …" : "")
        }

        let black = evidence.filter(\.isBlack)
        if !black.isEmpty {
            reasons.append(VerificationReason(.blackFrames, "\(black.count) of \(count) compared frames are black where the source is not (at \(times(black)))"))
        }
        let frozen = evidence.filter { $0.isFrozen && !$0.isBlack }
        if frozen.count >= VerdictThresholds.frozenMinimumFrames {
            reasons.append(VerificationReason(.framesFrozen, "\(frozen.count) of \(count) compared frames repeat the previous frame while the source moves (at \(times(frozen)))"))
        }
        let mirrored = evidence.filter(\.isMirrored)
        if Double(mirrored.count) > VerdictThresholds.mirroredFrameShare * Double(count) {
            let sideways = mirrored.filter { $0.mirroredError <= $0.upsideDownError }.count * 2 >= mirrored.count
            reasons.append(VerificationReason(.flipped, "the picture is mirrored \(sideways ? "left to right" : "upside down") in \(mirrored.count) of \(count) compared frames"))
        }
        let substituted = evidence.filter(\.isSubstituted)
        if !substituted.isEmpty {
            reasons.append(VerificationReason(.contentSubstituted, "\(substituted.count) of \(count) compared frames show other content (perceptual-hash distance up to \(substituted.map(\.hashDistance).max()!) of 64, at \(times(substituted)))"))
        }
        let ordinary = evidence.filter(\.isOrdinary)
        // A real time shift moves every frame by the same amount; slow, noisy content can make single frames
        // match a neighbour slightly better in either direction, which is not a shift.
        let shiftedByOffset = Dictionary(grouping: ordinary.filter(\.isShifted), by: \.bestOffset)
        let shifted = shiftedByOffset.values.max { $0.count < $1.count } ?? []
        if shifted.count >= VerdictThresholds.shiftedMinimumFrames && Double(shifted.count) >= VerdictThresholds.shiftedFrameShare * Double(ordinary.count) {
            let offsets = shifted[0].bestOffset
            reasons.append(VerificationReason(.timeShift, "\(shifted.count) of \(ordinary.count) compared frames match the source \(abs(offsets)) frame(s) \(offsets > 0 ? "later" : "earlier") better than the frame at their own time"))
        }
        guard !ordinary.isEmpty else { return reasons }

        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let cross = [median(ordinary.map(\.chromaU.cross)), median(ordinary.map(\.chromaV.cross))]
        let gain = [median(ordinary.map(\.chromaU.gain)), median(ordinary.map(\.chromaV.gain))]
        let offset = [median(ordinary.map(\.chromaU.offset)), median(ordinary.map(\.chromaV.offset))]
        // A cast moves the mean colour. The fit's intercept is no measure of it: an encoder that smooths colour
        // pulls it towards the picture's own mean, so a low gain turns into an intercept of (1 − gain) × mean.
        let meanShift = [median(ordinary.map(\.chromaBias.u)), median(ordinary.map(\.chromaBias.v))]
        // A hue rotation mixes U into V and V into U with opposite signs; correlated source chroma lets the
        // fit trade one plane for the other with the same sign, so only the antisymmetric part counts.
        let rotation = (cross[1] - cross[0]) / 2
        if abs(rotation) > VerdictThresholds.chromaCrossTalk || gain.contains(where: { $0 > VerdictThresholds.chromaGainHigh })
            || meanShift.contains(where: { abs($0) > VerdictThresholds.chromaBias }) {
            reasons.append(VerificationReason(.chromaShift, String(format: "colours were altered: U = %.2f·U %+.2f·V %+.1f, V = %.2f·V %+.2f·U %+.1f of the source's, mean U %+.1f, V %+.1f levels (encoding keeps about 1·U, 1·V, no rotation, the same means)",
                gain[0], cross[0], offset[0], gain[1], cross[1], offset[1], meanShift[0], meanShift[1])))
        }
        let detail = median(ordinary.map(\.detailRatio))
        let interior = median(ordinary.map(\.interiorDetailRatio))
        let flat = median(ordinary.map(\.blocks.flatToTexturedError))
        let chromaDetail = median(ordinary.map(\.chromaDetailRatio))
        let keyframes = ordinary.filter(\.isKeyFrame)
        let keyframeDetail = keyframes.isEmpty ? 0 : median(keyframes.map(\.interiorDetailRatio))
        if interior > VerdictThresholds.addedNoiseDetail && flat > VerdictThresholds.addedNoiseFlatError {
            reasons.append(VerificationReason(.addedNoise, String(format: "fine detail is %.2f× the source's and the error is as large on flat areas as on texture (%.2f): noise was added", detail, flat)))
        } else if keyframeDetail > VerdictThresholds.addedNoiseKeyframeDetail {
            reasons.append(VerificationReason(.addedNoise, String(format: "the rendition's keyframe carries %.2f× the source's fine detail inside coding blocks (an encoder keeps at most about as much; allowed up to %.2f×): noise was added", keyframeDetail, VerdictThresholds.addedNoiseKeyframeDetail)))
        } else if chromaDetail > VerdictThresholds.addedNoiseChromaDetail {
            reasons.append(VerificationReason(.addedNoise, String(format: "the colour planes carry %.1f× the source's fine detail (encoders smooth colour; allowed up to %.1f×): colour noise was added", chromaDetail, VerdictThresholds.addedNoiseChromaDetail)))
        }
        reasons += localReasons(ordinary)
        return reasons
    }

    /// Blocks whose error stands out against their texture class, at the same place in most compared frames.
    private mutating func localReasons(_ samples: [SampleEvidence]) -> [VerificationReason] {
        let blocks = columns * rows
        guard blocks > 0, samples.allSatisfy({ $0.blocks.columns == columns && $0.blocks.rows == rows }) else { return [] }
        let n = Float(samples.count)
        // Persistence counts only the frames where the source gave a tamper something to show on: a blur (or a
        // dark overlay) over a patch that the camera has since panned to sky leaves no trace there.
        var flaggedShare = [Float](repeating: 0, count: blocks)
        var showable = [Float](repeating: 0, count: blocks)
        var excess = [Float](repeating: 0, count: blocks)
        var error = [Float](repeating: 0, count: blocks)
        var kept = [Float](repeating: 0, count: blocks)
        var texture = [Float](repeating: 0, count: blocks)
        var bias = [Float](repeating: 0, count: blocks)
        // Blocks a keyframe sample showed (textured there) without standing out.
        var cleanOnKeyframe = [Bool](repeating: false, count: blocks)
        for sample in samples {
            for b in 0..<blocks {
                let e = sample.excess[b]
                let flagged = e >= VerdictThresholds.excessErrorFlag && sample.blocks.meanSquaredError[b] >= VerdictThresholds.minimumRegionError
                if flagged { flaggedShare[b] += 1 }
                if flagged || sample.blocks.sourceVariance[b] >= VerdictThresholds.showableVariance { showable[b] += 1 }
                if sample.isKeyFrame && !flagged && sample.blocks.sourceVariance[b] >= VerdictThresholds.showableVariance { cleanOnKeyframe[b] = true }
                excess[b] += e / n
                error[b] += sample.blocks.meanSquaredError[b] / n
                kept[b] += sample.blocks.renditionVariance[b] / n
                texture[b] += sample.blocks.sourceVariance[b] / n
                bias[b] += sample.blocks.bias[b] / n
            }
        }
        // Tiny regions keep the stricter share over all compared frames (a low rung's hard block can be flagged in
        // most of the few frames where it shows).
        let allFramesShare = flaggedShare.map { $0 / n }
        for b in 0..<blocks { flaggedShare[b] = showable[b] >= min(Float(VerdictThresholds.regionMinimumShowings), n) ? flaggedShare[b] / showable[b] : 0 }
        meanExcess = excess
        // One compared frame cannot show persistence: then only overwhelming evidence counts.
        let needed = samples.count >= 2 ? Float(VerdictThresholds.persistence) : 1
        let flags = (0..<blocks).map { flaggedShare[$0] >= needed && error[$0] >= VerdictThresholds.minimumRegionError }
        var reasons: [VerificationReason] = []
        var watermarks: [RegionFinding] = [], blurs: [RegionFinding] = []
        watermarks += offsetRegions(samples, meanBias: bias, excess: excess)
        let offsetBlocks = Set(watermarks.flatMap { region in
            (region.y / blockSize..<(region.y + region.h) / blockSize).flatMap { y in (region.x / blockSize..<(region.x + region.w) / blockSize).map { y * columns + $0 } }
        })
        for group in RegionGrouping.components(flags: flags, columns: columns, rows: rows) where !group.allSatisfy(offsetBlocks.contains) {
            let strength = group.map { excess[$0] }.reduce(0, +) / Float(group.count)
            // Tiny groups (well under the smallest watermark worth catching) need overwhelming evidence: an encoder's
            // bad luck on one or two blocks of a low rung must not read as an overlay.
            let share = Float(group.count) / Float(blocks)
            if group.count == 1 || share < VerdictThresholds.minimumRegionShare {
                // ... an error large in absolute terms too (a low rung's hard spot can be many times its texture
                // class's typical error while still a few levels off the source), and standing out on the rendition's
                // keyframe wherever it can show there: an overlay is drawn on every frame, the keyframe included, while
                // a hard spot an encoder leaves stale is fresh on the keyframe and wrong only after it.
                if strength < VerdictThresholds.singleBlockExcess || group.contains(where: { allFramesShare[$0] < needed || cleanOnKeyframe[$0] })
                    || group.map({ error[$0] }).reduce(0, +) / Float(group.count) < VerdictThresholds.singleBlockError { continue }
            } else if share < VerdictThresholds.smallRegionShare {
                // Smaller than the smallest watermark worth catching: a hard detail passing through a few blocks of a
                // low rung is flagged in the frames where it shows and flat elsewhere; an overlay stays in most frames.
                if group.map({ allFramesShare[$0] }).reduce(0, +) / Float(group.count) < needed { continue }
            }
            let sourceTexture = group.map { texture[$0] }.reduce(0, +)
            let keptTexture = group.map { kept[$0] }.reduce(0, +)
            let meanBias = group.map { bias[$0] }.reduce(0, +) / Float(group.count)
            let blurred = sourceTexture > 0 && keptTexture < VerdictThresholds.blurredDetailShare * sourceTexture && abs(meanBias) < 4
            // Where an honest encode with the rendition's own settings loses as much of this texture, it is not a blur.
            if blurred, honestBlur(group, samples) { continue }
            // An overlay is drawn on every frame, flat ones included, where it stands out most: one that stood out only
            // in the few frames where the source had texture there is a hard detail passing through (wires crossing a
            // sky at 102x180), not an overlay. (A blur has nothing to show on a flat frame, so those do not count.)
            if !blurred && group.map({ allFramesShare[$0] }).reduce(0, +) / Float(group.count) < needed { continue }
            let persistence = Double(group.map { flaggedShare[$0] }.reduce(0, +) / Float(group.count))
            let region = bounds(of: group, code: blurred ? .blurredRegion : .watermarkRegion, strength: Double(strength), persistence: persistence)
            if blurred { blurs.append(region) } else { watermarks.append(region) }
        }
        regions = (watermarks + blurs).sorted { $0.strength > $1.strength }
        func describe(_ list: [RegionFinding]) -> String {
            list.prefix(3).map { "(\($0.x), \($0.y), \($0.w)x\($0.h))" }.joined(separator: ", ") + (list.count > 3 ? " and \(list.count - 3) more" : "")
        }
        if !watermarks.isEmpty {
            reasons.append(VerificationReason(.watermarkRegion, "something was drawn over the picture at \(describe(watermarks)): error there is up to \(String(format: "%.0f", watermarks.map(\.strength).max()!))× what encoding leaves in similar texture, or the picture is lighter or darker there by a steady amount, in the same place across compared frames"))
        }
        if !blurs.isEmpty {
            reasons.append(VerificationReason(.blurredRegion, "detail was removed at \(describe(blurs)) in the compared frames where the source has detail there, while the rest of the picture keeps it"))
        }
        return reasons
    }
}

extension IntegrityFindings {
    /// For blocks that read as blurred: whether an honest encode at this size and rate loses as much of their texture.
    /// The reference encode is anchored at the compared frame where the blocks show the most source texture, and
    /// compared with the rendition on the frames up to it; a blur removes what the reference keeps, an encoder
    /// smoothing a sub-pixel wire away at a low rung removes what the reference loses too. False (the blur stands)
    /// when no reference can be made (no plausible x264 settings in the rendition) or the source shows too little
    /// texture there on those frames.
    func honestBlur(_ group: [Int], _ samples: [SampleEvidence]) -> Bool {
        guard let anchor = samples.max(by: { a, b in
            group.map { a.blocks.sourceVariance[$0] }.reduce(0, +) < group.map { b.blocks.sourceVariance[$0] }.reduce(0, +)
        }), let texture = referenceTexture(anchor.renditionIndex), texture.columns == columns, texture.rows == rows else { return false }
        let kept = texture.kept(in: group)
        return kept.shown >= VerdictThresholds.showableVariance && kept.rendition >= VerdictThresholds.blurredAgainstReference * kept.reference
    }

    /// Regions where the rendition is lighter (or darker) than the source by a steady amount in every compared
    /// frame: what a faint overlay leaves where its error is too small to stand out against texture. Coding
    /// error keeps block means and changes sign as content moves; an overlay's offset keeps its sign.
    func offsetRegions(_ samples: [SampleEvidence], meanBias: [Float], excess: [Float]) -> [RegionFinding] {
        let blocks = columns * rows
        guard samples.count >= VerdictThresholds.offsetMinimumFrames, blocks > 0 else { return [] }
        // Each frame's typical block offset: the scale an encoder's own offsets have in it.
        let typical = samples.map { sample in max(0.5, BlockStatistics.median(sample.blocks.bias.map(abs))) }
        var flags = [Bool](repeating: false, count: blocks)
        let n = Float(samples.count)
        for b in 0..<blocks {
            let mean = meanBias[b]
            guard abs(mean) >= VerdictThresholds.offsetMean else { continue }
            // One frame in six may disagree (the background briefly matching the overlay's brightness); it
            // counts against the score.
            var unsteady = 0, total: Float = 0
            for (k, sample) in samples.enumerated() {
                let value = sample.blocks.bias[b]
                let agrees = value * mean > 0 && abs(value) >= VerdictThresholds.offsetPerFrame
                if !agrees { unsteady += 1 }
                total += (value * mean > 0 ? 1 : -1) * abs(value) / typical[k]
            }
            guard unsteady <= samples.count / 6 else { continue }
            flags[b] = total / n >= VerdictThresholds.offsetScore
        }
        return RegionGrouping.components(flags: flags, columns: columns, rows: rows)
            .filter { $0.count >= VerdictThresholds.offsetRegionBlocks }
            .map { group in
                bounds(of: group, code: .watermarkRegion, strength: Double(group.map { excess[$0] }.reduce(0, +) / Float(group.count)), persistence: 1)
            }
    }

    /// The rectangle (pixels) around a group of block indices.
    func bounds(of group: [Int], code: ReasonCode, strength: Double, persistence: Double) -> RegionFinding {
        let xs = group.map { $0 % columns }, ys = group.map { $0 / columns }
        return RegionFinding(code: code.rawValue, x: xs.min()! * blockSize, y: ys.min()! * blockSize,
                             w: (xs.max()! - xs.min()! + 1) * blockSize, h: (ys.max()! - ys.min()! + 1) * blockSize,
                             strength: strength, persistence: persistence)
    }
}

/// Quality relative to the verifier's own reference encode at the asked bitrate.
enum QualityJudgement {
    /// For a rendition that spent well under the asked rate: its quality reached what the asked rate buys (within
    /// the margin), or is high enough that more bits would not show.
    static func qualityHolds(_ floor: VerificationResult.QualityFloor) -> Bool {
        floor.renditionPsnrY >= VerdictThresholds.underspentTransparentPsnr
            || floor.referencePsnrY - floor.renditionPsnrY <= VerdictThresholds.underspentMarginDb
    }

    /// `keyframeRetention`: the share of the source's finest octave that the rendition's latest keyframe before the
    /// compared frames carries (nil when none was measured).
    static func reasons(_ floor: VerificationResult.QualityFloor, keyframeRetention: Double?) -> [VerificationReason] {
        var reasons: [VerificationReason] = []
        let gap = floor.referencePsnrY - floor.renditionPsnrY
        let detailShare = floor.referenceDetail > 0 ? floor.renditionDetail / floor.referenceDetail : 1
        // Near-transparent and as close to the source as the honest encode: the finest "detail" left to lose is
        // sensor noise that encoders keep or drop as their settings go (a still sky at 202x360 and 800 kbit/s, 52.8 dB
        // against the reference's 52.9, kept 61 % of its top octave); a picture made smaller and scaled up costs PSNR.
        let transparent = floor.renditionPsnrY >= VerdictThresholds.underspentTransparentPsnr && gap <= VerdictThresholds.resolutionCheatTransparentGapDb
        // A keyframe that kept the source's finest octave was not made at a smaller size.
        let fullSizeKeyframe = keyframeRetention.map { $0 >= VerdictThresholds.resolutionCheatKeyframeRetention } ?? false
        if detailShare < VerdictThresholds.resolutionCheatDetailShare && !transparent && !fullSizeKeyframe {
            let keyframe = keyframeRetention.map { String(format: ", its keyframe %.0f%% of the source's", $0 * 100) } ?? ""
            reasons.append(VerificationReason(.resolutionCheat, String(format: "the rendition keeps %.0f%% of the finest detail an honest encode at this size and %d kbit/s keeps (PSNR gap %.1f dB)%@: encoded smaller and scaled up", detailShare * 100, floor.bitrate / 1000, gap, keyframe)))
        } else if gap > VerdictThresholds.qualityMarginDb {
            reasons.append(VerificationReason(.qualityBelowFloor, String(format: "luma PSNR %.1f dB is %.1f dB below the verifier's own %@ encode at %d kbit/s%@ (%.1f dB; allowed margin %.1f dB)", floor.renditionPsnrY, gap, floor.referenceEncoder, floor.bitrate / 1000, floor.bitrate < floor.askedBitrate ? " (what the rendition spent there)" : "", floor.referencePsnrY, VerdictThresholds.qualityMarginDb)))
        }
        return reasons
    }
}
