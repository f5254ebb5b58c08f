import Foundation
import Logging
import Media

/// Everything measured on one compared frame pair.
struct SampleEvidence {
    let renditionIndex: Int
    let sourceIndex: Int
    /// The rendition frame is a keyframe (coded on its own, so it shows what the encoder kept of this picture).
    let isKeyFrame: Bool
    let time: Double
    let suspect: Bool
    let quality: FrameQuality
    let blocks: BlockStatistics
    let excess: [Float]
    /// Thumbnail MSE against the source frame at each offset from the aligned one.
    let offsetErrors: [Int: Double]
    let bestOffset: Int
    /// Full-resolution luma MSE against the aligned source frame and against the one at `bestOffset`, measured
    /// only when the thumbnails say the frame is shifted: slow zooms and pans can make a neighbour's thumbnail
    /// the closer one while every pixel at full size says otherwise.
    let fullResolutionShift: (aligned: Double, best: Double)?
    /// Thumbnail MSE to the previous frame, rendition and source (motion).
    let renditionMotion: Double?
    let sourceMotion: Double?
    let renditionLuma: (mean: Double, deviation: Double)
    let sourceLuma: (mean: Double, deviation: Double)
    /// Thumbnail MSE against the source as is, mirrored left-right and upside down.
    let directError: Double
    let mirroredError: Double
    let upsideDownError: Double
    let hashDistance: Int
    let chromaBias: (u: Double, v: Double)
    /// Detail energy of the rendition over the scaled source's.
    let detailRatio: Double
    /// In-block detail energy of the rendition over the source's (added grain).
    let interiorDetailRatio: Double
    /// On a rendition keyframe: the share of the source's finest octave it carries
    /// (`PictureStatistics.topOctaveRetention`); nil on predicted frames.
    let keyframeRetention: Double?
    /// Frame-to-frame change of the rendition over the source's (full resolution, luma MSE): added noise
    /// flickers from frame to frame where encoding only smooths.
    let temporalChangeRatio: Double?
    /// Chroma fine-detail energy over the source's, the larger of U and V.
    let chromaDetailRatio: Double
    /// Linear chroma mix fits for U and V (see `PictureStatistics.chromaMix`).
    let chromaU: (gain: Double, cross: Double, offset: Double)
    let chromaV: (gain: Double, cross: Double, offset: Double)

    var isBlack: Bool {
        renditionLuma.mean < VerdictThresholds.blackLumaMean && renditionLuma.deviation < VerdictThresholds.blackLumaDeviation
            && (sourceLuma.mean >= VerdictThresholds.blackLumaMean || sourceLuma.deviation >= VerdictThresholds.blackLumaDeviation * 2)
    }
    var isFrozen: Bool {
        guard let renditionMotion, let sourceMotion else { return false }
        return sourceMotion >= VerdictThresholds.frozenSourceMotion && renditionMotion < VerdictThresholds.frozenMotionShare * sourceMotion
    }
    var isMirrored: Bool {
        min(mirroredError, upsideDownError) < VerdictThresholds.mirroredErrorShare * directError && directError > VerdictThresholds.mirroredMinimumError
    }
    var isSubstituted: Bool {
        hashDistance > VerdictThresholds.substitutedHashDistance && quality.psnrY < VerdictThresholds.substitutedPsnr && !isBlack && !isMirrored
    }
    /// The rendition frame repeats its predecessor while the source moved: an encoder's skipped frame (x264 does
    /// this at low rates) — it looks like the source one frame earlier, which says nothing about timing.
    var repeatsPrevious: Bool {
        guard let renditionMotion, let sourceMotion, sourceMotion > 0 else { return false }
        return renditionMotion < VerdictThresholds.frozenMotionShare * sourceMotion
    }
    var isShifted: Bool {
        guard !repeatsPrevious, Self.suggestsShift(offsetErrors, bestOffset: bestOffset) else { return false }
        guard let full = fullResolutionShift else { return true }
        return full.best < VerdictThresholds.shiftedErrorShare * full.aligned
    }

    /// The thumbnails say a neighbouring source frame matches clearly better than the aligned one.
    static func suggestsShift(_ offsetErrors: [Int: Double], bestOffset: Int) -> Bool {
        guard bestOffset != 0, let aligned = offsetErrors[0], let best = offsetErrors[bestOffset] else { return false }
        return best < VerdictThresholds.shiftedErrorShare * aligned
    }
    /// Frames whose content is wholly wrong carry no local evidence.
    var isOrdinary: Bool { !isBlack && !isFrozen && !isMirrored && !isSubstituted }
}

/// Decodes the sampled frames (and the few neighbours each check needs) and measures them.
final class SampleAnalysis {
    let request: VerificationRequest
    let aligner: FrameAligner
    let samples: [Int]
    let suspects: Set<Int>
    let referenceSample: Int?
    let logger: Logger
    private(set) var evidence: [SampleEvidence] = []
    private(set) var reference: VerificationResult.QualityFloor?
    private(set) var keyframeCost: VerificationResult.KeyframeCostFinding?
    private(set) var fingerprint = SegmentFingerprint(hashes: [])
    private(set) var thumbnail: PlaneImage?
    private(set) var renditionDecodeErrors = 0
    private(set) var sourceFramesDecoded = 0
    private(set) var renditionFramesDecoded = 0
    private(set) var referenceFramesEncoded = 0
    private var firstKeyframe: (settings: X264Settings, bytes: Int)??
    /// Made once per anchor frame, however many suspected blurs ask.
    private var blockTextures: [Int: ReferenceBlockTexture?] = [:]

    private let renditionDecoder: SelectiveFrameDecoder
    private let sourceDecoder: SourceFrames
    /// Source frames the shared decoder had decoded before this analysis (its cost is what it adds).
    private let sourceDecodedBefore: Int
    /// The one fixed reference scaler: FFmpeg's bicubic, the `scale` filter's default and `prism transcode`'s.
    private var scaler: Scaler
    private var renditionConverter: Scaler?
    private var sourceConverter: Scaler?
    private let thumbnailSize: (width: Int, height: Int)
    /// Per chunk: what several checks of one frame share, made once.
    private var renditionThumbnails: [Int: PlaneImage] = [:]
    private var renditionImages: [Int: YUVImage] = [:]
    private var scaledSources: [Int: (Frame, YUVImage)] = [:]

    /// Thumbnails for motion, shift and flip checks are at most this wide: coding noise averages out.
    static let thumbnailWidth = 128

    /// `renditionFile`: the rendition's file as its packet index left it open, so the decoder does not open it again.
    init(request: VerificationRequest, source: SourceFrames, aligner: FrameAligner, samples: [Int], suspects: Set<Int>, referenceSample: Int?,
         renditionFile: ReusableDemuxer? = nil, logger: Logger) throws {
        self.request = request
        self.aligner = aligner
        self.samples = samples
        self.suspects = suspects
        self.referenceSample = referenceSample
        self.logger = logger
        renditionDecoder = try SelectiveFrameDecoder(path: request.rendition, reusing: renditionFile)
        sourceDecoder = source
        sourceDecodedBefore = sourceDecoder.framesDecoded
        let width = aligner.rendition.stream.width, height = aligner.rendition.stream.height
        scaler = Scaler(width: width, height: height, format: PixelFormat.yuv420p, algorithm: .bicubic)
        let thumbWidth = min(Self.thumbnailWidth, width)
        thumbnailSize = (thumbWidth, max(1, Int((Double(thumbWidth) * Double(height) / Double(width)).rounded())))
    }

    func run() throws {
        let rendition = aligner.rendition, source = aligner.source
        let renditionKeys = rendition.entries.filter(\.isKeyFrame).map(\.pts)
        let sourceKeys = source.entries.filter(\.isKeyFrame).map(\.pts)
        let fingerprintIndices = SegmentFingerprint.frameIndices(frameCount: rendition.entries.count)
        var fingerprintHashes: [Int: PerceptualHash] = [:]
        var chunkStart = 0
        var previousLast = -1
        while chunkStart < samples.count {
            let chunk = Array(samples[chunkStart..<min(samples.count, chunkStart + SegmentVerifier.chunkSize)])
            chunkStart += chunk.count
            let isLastChunk = chunkStart >= samples.count
            var renditionWanted = Set<Int>(), sourceWanted = Set<Int>()
            for i in chunk {
                let j = aligner.sourceIndex(forRendition: i)
                renditionWanted.formUnion([i, i - 1])
                sourceWanted.formUnion((j - SegmentVerifier.neighbourReach)...(j + SegmentVerifier.neighbourReach))
                if i == referenceSample {
                    renditionWanted.formUnion((i - QualityReference.comparedFrames + 1)...i)
                    sourceWanted.formUnion((j - QualityReference.windowFrames + 1)...j)
                }
            }
            let chunkFingerprints = fingerprintIndices.filter { $0 > previousLast && ($0 <= chunk.last! || isLastChunk) }
            renditionWanted.formUnion(chunkFingerprints)
            previousLast = chunk.last!
            renditionWanted = renditionWanted.filter { $0 >= 0 && $0 < rendition.entries.count }
            sourceWanted = sourceWanted.filter { $0 >= 0 && $0 < source.entries.count }

            let renditionFrames = try renditionDecoder.frames(at: renditionWanted.map { rendition.entries[$0].pts }, keyframes: renditionKeys)
            let sourceFrames = try sourceDecoder.frames(at: sourceWanted.map { source.entries[$0].pts }, keyframes: sourceKeys)
            func renditionFrame(_ index: Int) -> Frame? {
                index >= 0 && index < rendition.entries.count ? renditionFrames[rendition.entries[index].pts] : nil
            }
            func sourceFrame(_ index: Int) -> Frame? {
                index >= 0 && index < source.entries.count ? sourceFrames[source.entries[index].pts] : nil
            }
            for index in chunkFingerprints {
                guard let frame = renditionFrame(index) else { continue }
                fingerprintHashes[index] = PerceptualHash(luma: try renditionImage(frame, index: index).luma)
            }
            for i in chunk {
                let j = aligner.sourceIndex(forRendition: i)
                guard let renditionRaw = renditionFrame(i), let sourceRaw = sourceFrame(j) else {
                    logger.debug("sample \(i): frame not decoded")
                    continue
                }
                let sample = try measure(i: i, j: j, rendition: renditionRaw, source: sourceRaw,
                                         renditionFrame: renditionFrame, sourceFrame: sourceFrame)
                evidence.append(sample)
                if thumbnail == nil && sample.isOrdinary {
                    let luma = try renditionImage(renditionRaw, index: i).luma
                    let width = min(480, luma.width)
                    thumbnail = luma.resampled(width: width, height: max(1, luma.height * width / luma.width))
                }
                if i == 0, rendition.entries.first?.isKeyFrame == true {
                    keyframeCost = try measureKeyframeCost(rendition: renditionRaw, source: sourceRaw, sourceIndex: j)
                }
                if i == referenceSample {
                    reference = try qualityReference(i: i, j: j, renditionFrame: renditionFrame, sourceFrame: sourceFrame)
                }
            }
            renditionThumbnails.removeAll()
            renditionImages.removeAll()
            scaledSources.removeAll()
        }
        fingerprint = SegmentFingerprint(hashes: fingerprintIndices.compactMap { fingerprintHashes[$0] })
        renditionDecodeErrors = renditionDecoder.decodeErrors
        renditionFramesDecoded = renditionDecoder.framesDecoded
        sourceFramesDecoded = sourceDecoder.framesDecoded - sourceDecodedBefore
    }

    /// The first keyframe against libx264 with the rendition's own settings on the clean source (see
    /// `KeyframeCost`); nil for renditions that carry no reproducible x264 settings. Each swscale kernel a farmer
    /// might have scaled with is tried (bicubic, Prism's own, first) until one explains the keyframe, and the
    /// farmer gets the smallest gap; a gap past the threshold is measured again with x264's lookahead rate
    /// control as the rendition used it (source frames after the keyframe decoded for it), which only a suspect
    /// rendition pays for.
    private func measureKeyframeCost(rendition frame: Frame, source: Frame, sourceIndex j: Int) throws -> VerificationResult.KeyframeCostFinding? {
        guard let (settings, bytes) = try firstKeyframeSettings(), let intra = settings.intraEncoderOptions else { return nil }
        let rendition = try renditionImage(frame, index: 0)
        let describe = Self.describe
        var best: (finding: VerificationResult.KeyframeCostFinding, algorithm: Scaler.Algorithm, factor: Double)?
        let hintKey = "keyframe \(rendition.width)x\(rendition.height) \(describe(intra))"
        var factor = request.searchHints?.start(hintKey, bytes: bytes).map { min(51, max(0, $0)) } ?? 23.0
        for algorithm in KeyframeCost.kernels(source: source, width: rendition.width, height: rendition.height) {
            let candidate = try KeyframeCost.scaled(source, width: rendition.width, height: rendition.height, algorithm: algorithm)
            guard let reference = try KeyframeCost.referencePsnr(frames: [candidate.frame], sourceImage: candidate.image, options: intra,
                                                                targetBytes: bytes, startFactor: factor) else { continue }
            referenceFramesEncoded += reference.encodes
            factor = reference.factor
            let renditionPsnr = PSNRKernel.psnr(meanSquaredError: max(1e-6, PictureStatistics.meanSquaredDifference(rendition.luma, candidate.image.luma)))
            logger.debug("keyframe cost with \(algorithm.rawValue): rendition \(renditionPsnr) dB, reference \(reference.psnr) dB")
            if best.map({ reference.psnr - renditionPsnr < $0.finding.gapDb }) ?? true {
                best = (.init(settings: describe(intra), scaler: algorithm.rawValue, bytes: bytes, renditionPsnrY: renditionPsnr,
                              referencePsnrY: reference.psnr, encodes: reference.encodes, lookaheadFrames: 0), algorithm, reference.factor)
            }
            // The verdict takes the smallest gap: once one kernel explains the keyframe, the rest cannot change it.
            if let best, best.finding.gapDb <= VerdictThresholds.keyframeCostGapDb { break }
        }
        guard let best else { return nil }
        request.searchHints?.record(hintKey, value: best.factor, bytes: bytes)
        var finding = best.finding
        if finding.gapDb > VerdictThresholds.keyframeCostGapDb, let lookahead = settings.lookaheadEncoderOptions {
            let source = aligner.source
            let wanted = (j..<min(source.entries.count, j + settings.lookaheadFrames + 1)).map { source.entries[$0].pts }
            let before = sourceDecoder.framesDecoded
            let decoded = try sourceDecoder.frames(at: wanted, keyframes: source.entries.filter(\.isKeyFrame).map(\.pts))
            sourceFramesDecoded += sourceDecoder.framesDecoded - before
            let scaler = Scaler(width: rendition.width, height: rendition.height, format: PixelFormat.yuv420p, algorithm: best.algorithm)
            let frames = try wanted.compactMap { decoded[$0] }.map { try scaler.scale($0) }
            if frames.count == wanted.count,
               let reference = try KeyframeCost.referencePsnr(frames: frames, sourceImage: YUVImage(frame: frames[0], time: 0), options: lookahead,
                                                             targetBytes: bytes, startFactor: best.factor) {
                referenceFramesEncoded += reference.encodes
                logger.debug("keyframe cost with lookahead: reference \(reference.psnr) dB")
                finding.referencePsnrY = reference.psnr
                finding.settings = describe(lookahead)
                finding.encodes += reference.encodes
                finding.lookaheadFrames = frames.count - 1
            }
        }
        return finding
    }

    /// libavcodec options as one line, sorted (what a finding reports, and what names a rung's search hints).
    static func describe(_ options: (options: [String: String], threads: Int)) -> String {
        options.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// What an encode of the source with the rendition's own x264 settings (at the bits and keyframe size of
    /// `qualityReference`) and the rendition keep of the source's texture per block, over the frames up to rendition
    /// frame `i`: asked only where a blur is suspected, anchored where the suspect blocks show texture. An encoder at
    /// a low rung smooths a sub-pixel wire away as surely as a blur would (deblocking, adaptive quantisation and psy
    /// decide how much fine texture survives); the same encoder on the clean source tells the two apart. Nil when
    /// nothing can be compared, or the rendition carries no plausible x264 settings (then the blur stands).
    func blockTexture(endingAt i: Int) throws -> ReferenceBlockTexture? {
        if let known = blockTextures[i] { return known }
        let made = try makeBlockTexture(endingAt: i)
        blockTextures[i] = .some(made)
        return made
    }

    private func makeBlockTexture(endingAt i: Int) throws -> ReferenceBlockTexture? {
        let rendition = aligner.rendition, source = aligner.source
        guard i >= 0, i < rendition.entries.count, let settings = try plausibleOwnSettings(),
              let budget = referenceBudget(endingAt: i) else { return nil }
        let indices = Array(max(0, i - QualityReference.windowFrames + 1)...i)
        let sourceIndices = indices.map { aligner.sourceIndex(forRendition: $0) }
        let (renditionFrame, sourceFrame) = try decodedAgain(rendition: indices, source: sourceIndices)
        defer { renditionImages.removeAll(); scaledSources.removeAll() }
        var pairs: [(rendition: YUVImage, source: (Frame, YUVImage))] = []
        for (k, index) in indices.enumerated() {
            guard let r = renditionFrame(index), let s = sourceFrame(sourceIndices[k]) else { return nil }
            pairs.append((try renditionImage(r, index: index), try scaledSource(s, index: sourceIndices[k])))
        }
        let encoded = try QualityReference.encode(pairs.map(\.source.0), bitrate: budget.spent, keyframeBytes: budget.keyframeBytes,
                                                  frameRate: source.stream.averageFrameRate, settings: settings,
                                                  hints: request.searchHints.map { ($0, "own quantiser \(rendition.stream.width)x\(rendition.stream.height) \(Self.describe(settings))") })
        referenceFramesEncoded += encoded.framesEncoded
        guard encoded.pictures.count == pairs.count else { return nil }
        var texture = ReferenceBlockTexture()
        for (k, pair) in pairs.enumerated() {
            let blockSize = BlockStatistics.blockSize(forHeight: pair.rendition.height)
            texture.add(reference: BlockStatistics(rendition: encoded.pictures[k].luma, source: pair.source.1.luma, blockSize: blockSize),
                        rendition: BlockStatistics(rendition: pair.rendition.luma, source: pair.source.1.luma, blockSize: blockSize))
        }
        return texture.frames > 0 ? texture : nil
    }

    /// The rendition's own x264 settings as libavcodec options, when they are ones an x264 preset or tune could have
    /// chosen: the farmer writes that text, and settings that smooth texture by design (noise reduction, deblocking
    /// or dead zones past any tune's, adaptive quantisation far past the default) would make its own blur look honest.
    private func plausibleOwnSettings() throws -> (options: [String: String], threads: Int)? {
        guard let settings = try firstKeyframeSettings()?.settings, settings.isPlausibleForTexture else { return nil }
        return settings.intraEncoderOptions
    }

    /// Rendition and source frames (by index) decoded again after the chunked run, as the run's closures give them.
    private func decodedAgain(rendition indices: [Int], source sourceIndices: [Int]) throws -> (rendition: (Int) -> Frame?, source: (Int) -> Frame?) {
        let rendition = aligner.rendition, source = aligner.source
        let renditionPts = indices.filter { $0 >= 0 && $0 < rendition.entries.count }.map { rendition.entries[$0].pts }
        let sourcePts = sourceIndices.filter { $0 >= 0 && $0 < source.entries.count }.map { source.entries[$0].pts }
        let renditionFrames = try renditionDecoder.frames(at: renditionPts, keyframes: rendition.entries.filter(\.isKeyFrame).map(\.pts))
        let before = sourceDecoder.framesDecoded
        let sourceFrames = try sourceDecoder.frames(at: sourcePts, keyframes: source.entries.filter(\.isKeyFrame).map(\.pts))
        sourceFramesDecoded += sourceDecoder.framesDecoded - before
        return ({ $0 >= 0 && $0 < rendition.entries.count ? renditionFrames[rendition.entries[$0].pts] : nil },
                { $0 >= 0 && $0 < source.entries.count ? sourceFrames[source.entries[$0].pts] : nil })
    }

    /// The x264 settings written in the rendition's first keyframe and that keyframe's slice bytes (from the packet
    /// index, which kept that packet); nil when the first video packet is no keyframe or carries no x264 settings.
    private func firstKeyframeSettings() throws -> (settings: X264Settings, bytes: Int)? {
        if let known = firstKeyframe { return known }
        let found = aligner.rendition.firstKeyFramePacket?.withUnsafeBufferPointer { data -> (settings: X264Settings, bytes: Int)? in
            X264Settings(packet: data).map { ($0, H264SliceBytes.count(data)) }
        }
        firstKeyframe = .some(found)
        return found
    }

    /// What a reference encode of the stretch ending at rendition frame `i` may spend: the asked rate (the
    /// rendition's own when none was asked), what the rendition spent on these frames when that is less (rate control
    /// moves bits between frames: x264 starves the frames after a segment's keyframe, then catches up, and the whole
    /// rendition's bitrate is judged on its own, so the reference compares encoders), and the size of the rendition's
    /// latest keyframe. Nil when no rate is known.
    private func referenceBudget(endingAt i: Int) -> (asked: Int, spent: Int, keyframeBytes: Int?)? {
        let asked = request.bitrate ?? Int(aligner.rendition.bitsPerSecond)
        guard asked > 0 else { return nil }
        let entries = aligner.rendition.entries
        let keyframe = entries[...min(i, entries.count - 1)].last { $0.isKeyFrame }
        return (asked, renditionSpend(endingAt: i).map { min(asked, $0) } ?? asked, keyframe?.size)
    }

    /// Bits per second the rendition spent on its predicted frames in the reference window ending at `i`,
    /// from packet sizes, counting only frames after the rendition's latest keyframe (its bits left out as the
    /// reference leaves out its own; frames before it belong to another stretch of rate control).
    private func renditionSpend(endingAt i: Int) -> Int? {
        let entries = aligner.rendition.entries
        guard i >= 0, i < entries.count else { return nil }
        var start = i
        while start > max(0, i - QualityReference.windowFrames + 1), !entries[start].isKeyFrame { start -= 1 }
        let window = entries[start...i].filter { !$0.isKeyFrame }
        guard !window.isEmpty else { return nil }
        let bitsPerFrame = Double(window.reduce(0) { $0 + $1.size } * 8) / Double(window.count)
        return Int(bitsPerFrame / aligner.rendition.frameSeconds)
    }

    private func renditionImage(_ frame: Frame, index: Int) throws -> YUVImage {
        if let known = renditionImages[index] { return known }
        let image = YUVImage(frame: try FramePlanes.as420(frame, converter: &renditionConverter), time: aligner.rendition.relativeSeconds(of: index))
        renditionImages[index] = image
        return image
    }

    private func scaledSource(_ frame: Frame, index: Int) throws -> (Frame, YUVImage) {
        if let known = scaledSources[index] { return known }
        let scaled = try scaler.scale(frame)
        let made = (scaled, YUVImage(frame: scaled, time: aligner.source.relativeSeconds(of: index)))
        scaledSources[index] = made
        return made
    }

    private func sourceThumbnail(_ index: Int, _ frame: Frame) throws -> PlaneImage {
        try sourceDecoder.thumbnail(pts: aligner.source.entries[index].pts, width: thumbnailSize.width, height: thumbnailSize.height) {
            let converted = try FramePlanes.as420(frame, converter: &sourceConverter)
            return FramePlanes.views(of: converted)[0].resampled(width: thumbnailSize.width, height: thumbnailSize.height)
        }
    }

    private func renditionThumbnail(_ index: Int, _ frame: Frame) throws -> PlaneImage {
        if let cached = renditionThumbnails[index] { return cached }
        let thumb = try renditionImage(frame, index: index).luma.resampled(width: thumbnailSize.width, height: thumbnailSize.height)
        renditionThumbnails[index] = thumb
        return thumb
    }

    private func measure(i: Int, j: Int, rendition renditionRaw: Frame, source sourceRaw: Frame,
                         renditionFrame: (Int) -> Frame?, sourceFrame: (Int) -> Frame?) throws -> SampleEvidence {
        let rendition = try renditionImage(renditionRaw, index: i)
        let (_, source) = try scaledSource(sourceRaw, index: j)
        let quality = FrameQuality.measure(distorted: rendition, reference: source)
        let blocks = BlockStatistics(rendition: rendition.luma, source: source.luma,
                                     blockSize: BlockStatistics.blockSize(forHeight: rendition.height))

        let renditionThumb = try renditionThumbnail(i, renditionRaw)
        let sourceThumb = try sourceThumbnail(j, sourceRaw)
        var offsetErrors: [Int: Double] = [:]
        for offset in -SegmentVerifier.neighbourReach...SegmentVerifier.neighbourReach {
            guard let neighbour = sourceFrame(j + offset) else { continue }
            offsetErrors[offset] = PictureStatistics.meanSquaredDifference(renditionThumb, try sourceThumbnail(j + offset, neighbour))
        }
        let bestOffset = offsetErrors.min { $0.value < $1.value || ($0.value == $1.value && abs($0.key) < abs($1.key)) }?.key ?? 0
        var fullResolutionShift: (aligned: Double, best: Double)?
        if SampleEvidence.suggestsShift(offsetErrors, bestOffset: bestOffset), let neighbour = sourceFrame(j + bestOffset) {
            let (_, shifted) = try scaledSource(neighbour, index: j + bestOffset)
            fullResolutionShift = (PictureStatistics.meanSquaredDifference(rendition.luma, source.luma),
                                   PictureStatistics.meanSquaredDifference(rendition.luma, shifted.luma))
        }
        var renditionMotion: Double?, sourceMotion: Double?
        if let previous = renditionFrame(i - 1), let sourcePrevious = sourceFrame(j - 1) {
            renditionMotion = PictureStatistics.meanSquaredDifference(renditionThumb, try renditionThumbnail(i - 1, previous))
            sourceMotion = PictureStatistics.meanSquaredDifference(sourceThumb, try sourceThumbnail(j - 1, sourcePrevious))
        }
        var temporalChangeRatio: Double?
        if let previous = renditionFrame(i - 1), let sourcePrevious = sourceFrame(j - 1) {
            let renditionPrevious = try renditionImage(previous, index: i - 1)
            let (_, scaledPrevious) = try scaledSource(sourcePrevious, index: j - 1)
            let sourceChange = PictureStatistics.meanSquaredDifference(source.luma, scaledPrevious.luma)
            if sourceChange > 0 { temporalChangeRatio = PictureStatistics.meanSquaredDifference(rendition.luma, renditionPrevious.luma) / sourceChange }
        }
        let directError = offsetErrors[0] ?? PictureStatistics.meanSquaredDifference(renditionThumb, sourceThumb)
        let sourceDetail = PictureStatistics.detailEnergy(source.luma)
        let isKeyFrame = aligner.rendition.entries[i].isKeyFrame
        return SampleEvidence(
            renditionIndex: i, sourceIndex: j, isKeyFrame: isKeyFrame, time: rendition.time, suspect: suspects.contains(i),
            quality: quality, blocks: blocks, excess: blocks.excessError(),
            offsetErrors: offsetErrors, bestOffset: bestOffset, fullResolutionShift: fullResolutionShift,
            renditionMotion: renditionMotion, sourceMotion: sourceMotion,
            renditionLuma: PictureStatistics.meanAndDeviation(rendition.luma),
            sourceLuma: PictureStatistics.meanAndDeviation(source.luma),
            directError: directError,
            mirroredError: PictureStatistics.meanSquaredDifference(renditionThumb, sourceThumb.mirroredHorizontally()),
            upsideDownError: PictureStatistics.meanSquaredDifference(renditionThumb, sourceThumb.mirroredVertically()),
            hashDistance: PerceptualHash(luma: rendition.luma).distance(to: PerceptualHash(luma: source.luma)),
            chromaBias: (PictureStatistics.meanDifference(rendition.planes[1], source.planes[1]),
                         PictureStatistics.meanDifference(rendition.planes[2], source.planes[2])),
            detailRatio: sourceDetail > 0 ? PictureStatistics.detailEnergy(rendition.luma) / sourceDetail : 1,
            interiorDetailRatio: PictureStatistics.interiorDetailEnergy(rendition.luma) / max(1e-6, PictureStatistics.interiorDetailEnergy(source.luma)),
            keyframeRetention: isKeyFrame ? PictureStatistics.topOctaveRetention(rendition: rendition.luma, source: source.luma) : nil,
            temporalChangeRatio: temporalChangeRatio,
            chromaDetailRatio: (1...2).map { plane in
                (PictureStatistics.detailEnergy(rendition.planes[plane]) + VerdictThresholds.chromaDetailFloor)
                    / (PictureStatistics.detailEnergy(source.planes[plane]) + VerdictThresholds.chromaDetailFloor)
            }.max()!,
            chromaU: PictureStatistics.chromaMix(rendition: rendition.planes[1], same: source.planes[1], other: source.planes[2]),
            chromaV: PictureStatistics.chromaMix(rendition: rendition.planes[2], same: source.planes[2], other: source.planes[1]))
    }

    /// Encodes the source frames leading up to sample `i` with the reference encoder and compares the last
    /// few with the rendition's frames at the same moments.
    private func qualityReference(i: Int, j: Int, renditionFrame: (Int) -> Frame?, sourceFrame: (Int) -> Frame?) throws -> VerificationResult.QualityFloor? {
        let window = (max(0, j - QualityReference.windowFrames + 1)...j).compactMap { index in sourceFrame(index).map { (index, $0) } }
        guard window.count >= QualityReference.comparedFrames + 1 else { return nil }
        let scaled = try window.map { try scaledSource($0.1, index: $0.0) }
        guard let budget = referenceBudget(endingAt: i) else { return nil }
        let asked = budget.asked
        // A rendition that spent well under the asked rate overall is judged against what the asked rate buys.
        let underspent = request.bitrate != nil && aligner.rendition.bitsPerSecond < VerdictThresholds.bitrateLow * Double(asked)
        let bitrate = underspent ? asked : budget.spent
        // Judging what the asked rate buys, the reference keyframe is not held to the rendition's (a starved one).
        let keyframeBytes = underspent ? nil : budget.keyframeBytes
        let hints = request.searchHints.map { ($0, "quantiser \(aligner.rendition.stream.width)x\(aligner.rendition.stream.height)") }
        let (encoded, rateFactor, keyframeQP, framesEncoded) = try QualityReference.encode(scaled.map(\.0), bitrate: bitrate, keyframeBytes: keyframeBytes,
                                                                                           frameRate: aligner.source.stream.averageFrameRate, hints: hints)
        logger.debug("quality reference at sample \(i): \(bitrate / 1000) kbit/s, keyframe held to \(keyframeBytes ?? 0) bytes, rate factor \(rateFactor)")
        referenceFramesEncoded += framesEncoded
        guard encoded.count == scaled.count else { return nil }
        var renditionError = 0.0, referenceError = 0.0, renditionDetail = 0.0, referenceDetail = 0.0
        var compared = 0
        var cross = 0.0, renditionEnergy = 0.0, referenceEnergy = 0.0
        for k in 0..<QualityReference.comparedFrames {
            let position = scaled.count - 1 - k
            guard let frame = renditionFrame(i - k) else { continue }
            let rendition = try renditionImage(frame, index: i - k)
            let source = scaled[position].1
            let sourceBand = PictureStatistics.highPass(source.luma)
            // Each encode's squared error and how alike the two encodes' errors are (coding error follows the
            // content, added noise does not), in one pass.
            let sums = PictureStatistics.errorProducts(source: source.luma, a: rendition.luma, b: encoded[position].luma)
            let pixels = Double(max(1, source.luma.pixels.count))
            renditionError += Double(sums.a) / pixels
            referenceError += Double(sums.b) / pixels
            cross += Double(sums.cross); renditionEnergy += Double(sums.a); referenceEnergy += Double(sums.b)
            renditionDetail += PictureStatistics.topOctaveRetention(rendition: rendition.luma, sourceHighPass: sourceBand)
            referenceDetail += PictureStatistics.topOctaveRetention(rendition: encoded[position].luma, sourceHighPass: sourceBand)
            compared += 1
        }
        guard compared > 0 else { return nil }
        let n = Double(compared)
        return .init(referenceEncoder: "\(QualityReference.encoderName) \(QualityReference.preset)", bitrate: bitrate, askedBitrate: asked, rateFactor: rateFactor, keyframeQP: keyframeQP,
                     referencePsnrY: PSNRKernel.psnr(meanSquaredError: max(referenceError / n, 1e-6)),
                     renditionPsnrY: PSNRKernel.psnr(meanSquaredError: max(renditionError / n, 1e-6)),
                     referenceDetail: referenceDetail / n, renditionDetail: renditionDetail / n,
                     errorCorrelation: renditionEnergy > 0 && referenceEnergy > 0 ? cross / (renditionEnergy * referenceEnergy).squareRoot() : 1,
                     underspent: underspent ? true : nil)
    }
}

/// Texture per block (variance, summed over frames) of the source, of the verifier's reference encode and of the
/// rendition, on the same frames.
struct ReferenceBlockTexture {
    private(set) var source: [Float] = []
    private(set) var reference: [Float] = []
    private(set) var rendition: [Float] = []
    private(set) var columns = 0
    private(set) var rows = 0
    private(set) var frames = 0

    mutating func add(reference encoded: BlockStatistics, rendition: BlockStatistics) {
        if frames == 0 {
            columns = encoded.columns; rows = encoded.rows
            source = [Float](repeating: 0, count: columns * rows); reference = source; self.rendition = source
        }
        guard encoded.columns == columns, encoded.rows == rows, rendition.columns == columns, rendition.rows == rows else { return }
        for b in 0..<source.count {
            source[b] += encoded.sourceVariance[b]
            reference[b] += encoded.renditionVariance[b]
            self.rendition[b] += rendition.renditionVariance[b]
        }
        frames += 1
    }

    /// Of the texture the source shows in `group` over these frames: the share the reference kept, the share the
    /// rendition kept, and the mean source variance per block and frame.
    func kept(in group: [Int]) -> (reference: Float, rendition: Float, shown: Float) {
        let shown = group.map { source[$0] }.reduce(0, +)
        guard shown > 0, frames > 0 else { return (0, 0, 0) }
        return (group.map { reference[$0] }.reduce(0, +) / shown, group.map { rendition[$0] }.reduce(0, +) / shown,
                shown / Float(group.count * frames))
    }
}
