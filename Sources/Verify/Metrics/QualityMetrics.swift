import Foundation

/// PSNR and SSIM of one distorted frame against its reference, per plane, as FFmpeg's filters compute them.
public struct FrameQuality: Sendable {
    /// Mean squared error per plane (Y, U, V).
    public let meanSquaredError: [Double]
    /// SSIM per plane (Y, U, V).
    public let ssim: [Double]
    /// Plane areas, for the area-weighted averages both filters use.
    public let planeAreas: [Int]

    public var planeWeights: [Double] {
        let total = Double(planeAreas.reduce(0, +))
        return planeAreas.map { Double($0) / total }
    }

    /// vf_psnr's per-frame MSE: plane MSEs weighted by plane area.
    public var averageMeanSquaredError: Double { zip(meanSquaredError, planeWeights).reduce(0) { $0 + $1.0 * $1.1 } }
    /// vf_ssim's per-frame "All": plane SSIMs weighted by plane area.
    public var ssimAll: Double { zip(ssim, planeWeights).reduce(0) { $0 + $1.0 * $1.1 } }
    public var psnrAverage: Double { PSNRKernel.psnr(meanSquaredError: averageMeanSquaredError) }
    public var psnrY: Double { PSNRKernel.psnr(meanSquaredError: meanSquaredError[0]) }

    /// Measures `distorted` against `reference` (three planes each, same sizes). Planes are measured
    /// concurrently: luma SSIM on one worker, everything else on the other.
    public static func measure(distorted: [PlaneView], reference: [PlaneView], lumaMap: UnsafeMutablePointer<Float>? = nil) -> FrameQuality {
        var errors = [UInt64](repeating: 0, count: 3)
        var ssims = [(sum: Double, windows: Int)](repeating: (0, 0), count: 3)
        errors.withUnsafeMutableBufferPointer { errorsOut in
            ssims.withUnsafeMutableBufferPointer { ssimOut in
                // The two jobs write disjoint slots and read the planes only; concurrentPerform returns after both.
                nonisolated(unsafe) let errorsBase = errorsOut.baseAddress!, ssimBase = ssimOut.baseAddress!
                nonisolated(unsafe) let distorted = distorted, reference = reference, lumaMap = lumaMap
                DispatchQueue.concurrentPerform(iterations: 2) { job in
                    if job == 0 {
                        ssimBase[0] = SSIMKernel.plane(distorted[0], reference[0], map: lumaMap)
                    } else {
                        for plane in 1..<3 { ssimBase[plane] = SSIMKernel.plane(distorted[plane], reference[plane]) }
                        for plane in 0..<3 { errorsBase[plane] = PSNRKernel.squaredError(distorted[plane], reference[plane]) }
                    }
                }
            }
        }
        let areas = distorted.map { $0.width * $0.height }
        return FrameQuality(
            meanSquaredError: (0..<3).map { Double(errors[$0]) / Double(areas[$0]) },
            ssim: ssims.map { $0.windows > 0 ? $0.sum / Double($0.windows) : 1 },
            planeAreas: areas)
    }

    /// Convenience for owned images.
    public static func measure(distorted: YUVImage, reference: YUVImage) -> FrameQuality {
        distorted.planes[0].withView { d0 in distorted.planes[1].withView { d1 in distorted.planes[2].withView { d2 in
        reference.planes[0].withView { r0 in reference.planes[1].withView { r1 in reference.planes[2].withView { r2 in
            measure(distorted: [d0, d1, d2], reference: [r0, r1, r2])
        }}}}}}
    }
}

/// Whole-video PSNR and SSIM aggregated the way FFmpeg's filters report them at the end of a run.
public struct QualitySummary: Codable, Sendable, Equatable {
    public struct PSNR: Codable, Sendable, Equatable {
        public var y: Double, u: Double, v: Double
        /// From the mean of the area-weighted per-frame MSE (vf_psnr's "average").
        public var average: Double
        /// Lowest and highest per-frame PSNR (from the largest and smallest per-frame weighted MSE).
        public var min: Double, max: Double
    }
    public struct SSIM: Codable, Sendable, Equatable {
        public var y: Double, u: Double, v: Double
        /// Mean over frames of the area-weighted per-frame SSIM (vf_ssim's "All").
        public var all: Double
    }
    public var frames: Int
    public var psnr: PSNR
    public var ssim: SSIM
}

/// Accumulates per-frame results into FFmpeg's summary numbers.
public struct QualityAccumulator: Sendable {
    public private(set) var frames: [FrameQuality] = []
    public init() {}

    public mutating func add(_ frame: FrameQuality) { frames.append(frame) }

    public var summary: QualitySummary? {
        guard !frames.isEmpty else { return nil }
        let n = Double(frames.count)
        // vf_psnr sums each plane's MSE over frames and converts the mean MSE to dB (not the mean of dB values).
        let planeMSE = (0..<3).map { plane in frames.reduce(0) { $0 + $1.meanSquaredError[plane] } / n }
        let weighted = frames.map(\.averageMeanSquaredError)
        let planeSSIM = (0..<3).map { plane in frames.reduce(0) { $0 + $1.ssim[plane] } / n }
        return QualitySummary(
            frames: frames.count,
            psnr: .init(y: PSNRKernel.psnr(meanSquaredError: planeMSE[0]),
                        u: PSNRKernel.psnr(meanSquaredError: planeMSE[1]),
                        v: PSNRKernel.psnr(meanSquaredError: planeMSE[2]),
                        average: PSNRKernel.psnr(meanSquaredError: weighted.reduce(0, +) / n),
                        min: PSNRKernel.psnr(meanSquaredError: weighted.max()!),
                        max: PSNRKernel.psnr(meanSquaredError: weighted.min()!)),
            ssim: .init(y: planeSSIM[0], u: planeSSIM[1], v: planeSSIM[2],
                        all: frames.reduce(0) { $0 + $1.ssimAll } / n))
    }
}
