import Logging

/// A verifier's answer on one returned rendition.
public struct RenditionJudgement: Sendable {
    public var accepted: Bool
    public var reasons: [ReasonCode]
    /// Frames the rendition holds, when its packets were read (what a receipt's frame count is checked against).
    public var renditionFrames: Int?
    public init(accepted: Bool, reasons: [ReasonCode], renditionFrames: Int? = nil) {
        self.accepted = accepted
        self.reasons = reasons
        self.renditionFrames = renditionFrames
    }
}

/// Checks a rendition against its source segment as a request describes them (submitters and challengers
/// take one, so tests can put a counting or failing judge in its place).
public typealias RenditionJudge = @Sendable (VerificationRequest) throws -> RenditionJudgement

extension SegmentVerifier {
    /// The judge that runs every check of this verifier.
    public static func judge(logger: Logger) -> RenditionJudge {
        { request in try SegmentVerifier(request: request, logger: logger).judgement() }
    }

    /// Every check, as a judgement; its cost logged at debug level.
    func judgement() throws -> RenditionJudgement {
        let (result, _) = try run()
        let cost = result.cost
        logger.debug("verified \(request.rendition): \(result.verdict), \(cost.sourceFramesDecoded) source and \(cost.renditionFramesDecoded) rendition frames decoded, \(cost.referenceFramesEncoded) reference frames encoded, \(String(format: "%.3f", cost.seconds)) s")
        return RenditionJudgement(accepted: result.verdict == .accept, reasons: result.reasons.map(\.code), renditionFrames: result.frames.rendition)
    }
}

extension SegmentVerifier {
    /// The judge that runs only the checks needing no decoding (`checkStructure()`): for renditions not audited.
    /// A rendition that spent well under the asked rate goes on to the pixel checks, which judge it by its quality.
    public static func screen(logger: Logger) -> RenditionJudge {
        { request in
            let verifier = SegmentVerifier(request: request, logger: logger)
            return try verifier.checkStructure() ?? verifier.judgement()
        }
    }
}
