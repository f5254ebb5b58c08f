import Foundation
import Logging
import Media

/// Checks one returned rendition (a segment or a media playlist) against its source: structure first (from
/// packets, without decoding), then sampled frames decoded and compared with the source scaled by one fixed
/// scaler, for integrity (local, temporal, chroma and perceptual-hash evidence) and for quality (against the
/// verifier's own small reference encode). Trusts nothing the farmer reports about its output.
public final class SegmentVerifier {
    public let request: VerificationRequest
    let logger: Logger
    /// The source, read once for the structure and the samples (shared with the other rungs when the request says).
    let source: SourceFrames

    public init(request: VerificationRequest, logger: Logger = Logger(label: "prism.verify")) {
        self.request = request
        self.logger = logger
        source = request.sourceFrames
    }

    /// Source frames either side of the aligned one that are compared, to recognise time shifts.
    static let neighbourReach = 4
    /// At most this many packet-size suspects are added to the random samples.
    static let suspectLimit = 2
    /// Samples decoded and analysed together (bounds memory with `--full`).
    static let chunkSize = 12

    /// What the packets alone say: both files indexed, the rendition's shape, and the structural reasons.
    struct Structure {
        let source: PacketIndex
        let rendition: PacketIndex
        /// The rendition's file as its index left it, rewound, for the pixel checks' decoder.
        let renditionFile: ReusableDemuxer?
        let reasons: [VerificationReason]
        let wrongSize: Bool
        let summary: VerificationResult.Structure
        /// Spent under `bitrateLow` of the asked rate: judged by the quality it reached, which needs the pixels.
        let underspent: VerificationReason?
    }

    /// The checks that need no decoding (codec, size, frame count, duration, keyframe, bitrate): what every
    /// rendition gets even when its pixels are not audited. Nil when the packets leave a question only the pixels
    /// answer (a rendition that spent well under the asked rate passes when its quality holds). Throws like `run()`
    /// for inputs that cannot be checked.
    public func checkStructure() throws -> RenditionJudgement? {
        let structure = try readStructure()
        if structure.reasons.isEmpty && structure.underspent != nil { return nil }
        let reasons = structure.reasons + (structure.underspent.map { [$0] } ?? [])
        return RenditionJudgement(accepted: reasons.isEmpty, reasons: reasons.map(\.code), renditionFrames: structure.rendition.frameCount)
    }

    /// The structure, read once: a screened rendition that goes on to the pixel checks does not read its packets again.
    private var structure: Structure?

    func readStructure() throws -> Structure {
        if let structure { return structure }
        let read = try readStructureOnce()
        structure = read
        return read
    }

    private func readStructureOnce() throws -> Structure {
        let sourceIndex = try source.packetIndex(window: request.sourceWindow)
        let (renditionIndex, renditionFile) = try PacketIndex.keepingOpen(path: request.rendition)
        guard !sourceIndex.entries.isEmpty else { throw VerificationInputError.noFrames(path: request.source) }
        guard !renditionIndex.entries.isEmpty else { throw VerificationInputError.noFrames(path: request.rendition) }
        let source = sourceIndex.stream, rendition = renditionIndex.stream
        var reasons: [VerificationReason] = []

        // Shape: what was asked first (a wrong size is the farmer's fault), else the source's aspect (bad input).
        let askedWidth = request.width, askedHeight = request.height
        let wrongSize = (askedWidth.map { $0 != rendition.width } ?? false) || (askedHeight.map { $0 != rendition.height } ?? false)
        if wrongSize {
            reasons.append(VerificationReason(.wrongDimensions,
                "rendition is \(rendition.width)x\(rendition.height), asked \(askedWidth.map(String.init) ?? "any")x\(askedHeight.map(String.init) ?? "any")"))
        }
        // Shapes as shown: an anamorphic source's display width, the rendition's (square pixels, or its own SAR).
        let sourceAspect = Double(source.displayWidth) / Double(source.height)
        let renditionAspect = Double(rendition.displayWidth) / Double(rendition.height)
        if abs(renditionAspect / sourceAspect - 1) > VerdictThresholds.aspectTolerance && !wrongSize {
            throw VerificationInputError.aspectMismatch(source: "\(source.width)x\(source.height)", rendition: "\(rendition.width)x\(rendition.height)")
        }
        let frameSeconds = sourceIndex.frameSeconds
        if sourceIndex.durationSeconds + VerdictThresholds.durationFrames * frameSeconds < renditionIndex.durationSeconds {
            throw VerificationInputError.sourceShorter(source: sourceIndex.durationSeconds, rendition: renditionIndex.durationSeconds)
        }
        let (structural, underspent) = structuralReasons(source: sourceIndex, rendition: renditionIndex)
        reasons += structural
        let summary = VerificationResult.Structure(
            codec: rendition.codecName, width: rendition.width, height: rendition.height,
            bitrate: Int(renditionIndex.bitsPerSecond), durationSeconds: renditionIndex.durationSeconds,
            sourceDurationSeconds: sourceIndex.durationSeconds, startsWithKeyframe: renditionIndex.startsWithKeyFrame, decodeErrors: 0)
        return Structure(source: sourceIndex, rendition: renditionIndex, renditionFile: renditionFile, reasons: reasons, wrongSize: wrongSize, summary: summary,
                         underspent: underspent)
    }

    /// Runs every check. Throws `VerificationInputError` or `MediaError` when the inputs cannot be checked.
    public func run() throws -> (VerificationResult, VerificationReportData?) {
        let started = Date()
        let checked = try readStructure()
        let sourceIndex = checked.source, renditionIndex = checked.rendition, wrongSize = checked.wrongSize, structure = checked.summary
        var reasons = checked.reasons
        if wrongSize {
            reasons += checked.underspent.map { [$0] } ?? []
            // Content cannot be compared at another shape; the verdict is already clear.
            return (VerificationResult(verdict: .reject, reasons: reasons, metrics: nil,
                                       frames: .init(source: sourceIndex.frameCount, rendition: renditionIndex.frameCount, compared: 0),
                                       regions: [], fingerprint: "", structure: structure, qualityFloor: nil, keyframeCost: nil, samples: [],
                                       seed: request.seed.map(String.init),
                                       cost: .init(sourceFramesDecoded: 0, renditionFramesDecoded: 0, referenceFramesEncoded: 0,
                                                   seconds: Date().timeIntervalSince(started))), nil)
        }

        // Which frames to look at.
        let aligner = FrameAligner(source: sourceIndex, rendition: renditionIndex)
        let frameCount = renditionIndex.entries.count
        var sampleIndices: [Int]
        var suspects: Set<Int> = []
        switch request.sampling {
        case .full: sampleIndices = Array(0..<frameCount)
        case let .samples(count):
            sampleIndices = SamplePicker.pick(count: max(1, count), from: frameCount, seed: request.seed)
            for suspect in aligner.packetSizeSuspects(limit: Self.suspectLimit) where !sampleIndices.contains(suspect) {
                sampleIndices.append(suspect)
                suspects.insert(suspect)
            }
            // The fingerprint frames are decoded from the rendition anyway: compare them with the source too
            // (fixed positions, so they only add to the unpredictable ones) where that costs no extra source
            // decoding — the first frame, and frames no later than a random sample in the same source GOP — and
            // always the middle one, so a second half swapped for other content cannot slip between samples.
            let sourceKeys = sourceIndex.entries.indices.filter { sourceIndex.entries[$0].isKeyFrame }
            func gop(_ j: Int) -> Int { sourceKeys.last { $0 <= j } ?? 0 }
            let reached = Dictionary(sampleIndices.map { i -> (Int, Int) in
                let j = aligner.sourceIndex(forRendition: i)
                return (gop(j), j)
            }, uniquingKeysWith: max)
            for index in SegmentFingerprint.frameIndices(frameCount: frameCount) where !sampleIndices.contains(index) {
                let j = aligner.sourceIndex(forRendition: index)
                if index == 0 || index == frameCount / 2 || reached[gop(j)].map({ j <= $0 }) ?? false { sampleIndices.append(index) }
            }
            sampleIndices.sort()
        }
        // One random sample also anchors the reference encode: the one with the most source frames before it.
        let referenceSample = sampleIndices.filter { !suspects.contains($0) }
            .max { aligner.sourceIndex(forRendition: $0) < aligner.sourceIndex(forRendition: $1) }

        let analysis = try SampleAnalysis(request: request, source: source, aligner: aligner, samples: sampleIndices, suspects: suspects,
                                          referenceSample: referenceSample, renditionFile: checked.renditionFile, logger: logger)
        try analysis.run()
        guard !analysis.evidence.isEmpty else { throw VerificationInputError.nothingDecoded(path: request.rendition) }

        var findings = IntegrityFindings(evidence: analysis.evidence) { [logger] anchor in
            do { return try analysis.blockTexture(endingAt: anchor) } catch {
                logger.debug("no reference encode for a suspected blur at frame \(anchor): \(error)")
                return nil
            }
        }
        reasons += findings.reasons()
        if analysis.renditionDecodeErrors > 0 {
            reasons.append(VerificationReason(.decodeErrors, "\(analysis.renditionDecodeErrors) damaged packets or frames while decoding the rendition"))
        }
        if let cost = analysis.keyframeCost, cost.gapDb > VerdictThresholds.keyframeCostGapDb,
           let first = analysis.evidence.first(where: { $0.renditionIndex == 0 }), first.isOrdinary, !first.isShifted {
            reasons.append(VerificationReason(.alteredBeforeEncoding, String(format: "the first keyframe (%d bytes) reaches %.1f dB where libx264 with the rendition's own settings reaches %.1f dB on the source at that size (allowed %.1f dB less): the farmer encoded something other than the source, such as added noise, an overlay or a filter", cost.bytes, cost.renditionPsnrY, cost.referencePsnrY, VerdictThresholds.keyframeCostGapDb)))
        }
        var floor: VerificationResult.QualityFloor?
        if let reference = analysis.reference {
            floor = reference
            // Quality means something only where the content itself is right; a frame already failed for
            // integrity (flipped, shifted, substituted…) would also look "low quality".
            let anchor = analysis.evidence.first { $0.renditionIndex == referenceSample }
            // A rendition that spent well under the asked rate is judged below against what that rate buys instead
            // (the reference's detail at three times the bits says nothing about the rendition's resolution).
            if anchor.map({ $0.isOrdinary && !$0.isShifted }) ?? false, checked.underspent == nil {
                let keyframe = analysis.evidence.last { $0.keyframeRetention != nil && $0.renditionIndex <= referenceSample ?? 0 }
                reasons += QualityJudgement.reasons(reference, keyframeRetention: keyframe?.keyframeRetention)
            }
        }
        if let underspent = checked.underspent, !(floor.map(QualityJudgement.qualityHolds) ?? false) {
            // Saving bits is fine only where the quality holds; without a reference to tell, the bound stands.
            var reason = underspent
            if let floor {
                reason = VerificationReason(.bitrateOutOfBounds, underspent.message + String(format: ", and the quality does not hold: luma PSNR %.1f dB where the verifier's own encode at the asked rate reaches %.1f (needed: within %.1f dB, or %.0f dB or more)", floor.renditionPsnrY, floor.referencePsnrY, VerdictThresholds.underspentMarginDb, VerdictThresholds.underspentTransparentPsnr))
            }
            reasons.append(reason)
        }

        var accumulator = QualityAccumulator()
        for sample in analysis.evidence { accumulator.add(sample.quality) }
        let summary = accumulator.summary
        var structureOut = structure
        structureOut.decodeErrors = analysis.renditionDecodeErrors
        let result = VerificationResult(
            verdict: reasons.isEmpty ? .accept : .reject,
            reasons: reasons,
            metrics: summary.map { .init(psnr: $0.psnr, ssim: $0.ssim) },
            frames: .init(source: sourceIndex.frameCount, rendition: renditionIndex.frameCount, compared: analysis.evidence.count),
            regions: findings.regions,
            fingerprint: analysis.fingerprint.description,
            structure: structureOut,
            qualityFloor: floor,
            keyframeCost: analysis.keyframeCost,
            samples: analysis.evidence.map { .init(rendition: $0.renditionIndex, source: $0.sourceIndex, time: $0.time,
                                                   psnrY: $0.quality.psnrY, ssimY: $0.quality.ssim[0], hashDistance: $0.hashDistance,
                                                   bestOffset: $0.bestOffset, shifted: $0.isShifted, suspect: $0.suspect,
                                                   detailRatio: $0.detailRatio, interiorDetailRatio: $0.interiorDetailRatio, keyframeRetention: $0.keyframeRetention,
                                                   flatToTexturedError: $0.blocks.flatToTexturedError,
                                                   temporalChangeRatio: $0.temporalChangeRatio,
                                                   chromaDetailRatio: $0.chromaDetailRatio,
                                                   chromaGain: [$0.chromaU.gain, $0.chromaV.gain], chromaCross: [$0.chromaU.cross, $0.chromaV.cross],
                                                   chromaOffset: [$0.chromaU.offset, $0.chromaV.offset]) },
            seed: request.seed.map(String.init),
            cost: .init(sourceFramesDecoded: analysis.sourceFramesDecoded, renditionFramesDecoded: analysis.renditionFramesDecoded,
                        referenceFramesEncoded: analysis.referenceFramesEncoded, seconds: Date().timeIntervalSince(started)))
        var report: VerificationReportData?
        if request.keepReportData, let thumbnail = analysis.thumbnail {
            report = VerificationReportData(thumbnail: thumbnail, excess: findings.meanExcess, columns: findings.columns,
                                            rows: findings.rows, blockSize: findings.blockSize)
        }
        return (result, report)
    }

    /// Checks that need only packets: codec, frame count, duration, keyframe, bitrate.
    /// The second value is the low-bitrate finding, kept apart: it stands only if the quality does not hold.
    func structuralReasons(source: PacketIndex, rendition: PacketIndex) -> (reasons: [VerificationReason], underspent: VerificationReason?) {
        var reasons: [VerificationReason] = []
        if let asked = request.codec, CodecName.canonical(asked) != CodecName.canonical(rendition.stream.codecName) {
            reasons.append(VerificationReason(.wrongCodec, "rendition is \(rendition.stream.codecName), asked \(asked)"))
        }
        let sourceFrames = source.frameCount, renditionFrames = rendition.frameCount
        if renditionFrames < sourceFrames {
            reasons.append(VerificationReason(.framesDropped, "rendition has \(renditionFrames) frames, source \(sourceFrames): \(sourceFrames - renditionFrames) missing"))
        } else if renditionFrames > sourceFrames {
            reasons.append(VerificationReason(.framesAdded, "rendition has \(renditionFrames) frames, source \(sourceFrames): \(renditionFrames - sourceFrames) extra"))
        } else if abs(source.durationSeconds - rendition.durationSeconds) > VerdictThresholds.durationFrames * source.frameSeconds {
            reasons.append(VerificationReason(.durationMismatch, String(format: "rendition lasts %.3f s, source %.3f s", rendition.durationSeconds, source.durationSeconds)))
        }
        if !rendition.startsWithKeyFrame {
            reasons.append(VerificationReason(.noKeyframeAtStart, "the rendition's first packet is not a keyframe, so it cannot be played on its own"))
        }
        var underspent: VerificationReason?
        if let asked = request.bitrate, asked > 0 {
            let ratio = rendition.bitsPerSecond / Double(asked)
            let reason = VerificationReason(.bitrateOutOfBounds, String(format: "video bitrate %.0f kbit/s is %.2f× the asked %d kbit/s (allowed %.2f–%.2f×)",
                rendition.bitsPerSecond / 1000, ratio, asked / 1000, VerdictThresholds.bitrateLow, VerdictThresholds.bitrateHigh))
            if ratio > VerdictThresholds.bitrateHigh { reasons.append(reason) }
            if ratio < VerdictThresholds.bitrateLow { underspent = reason }
        }
        return (reasons, underspent)
    }
}
