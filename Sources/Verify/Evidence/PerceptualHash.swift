import Foundation

/// A 64-bit DCT perceptual hash of a picture's luma: the picture is area-averaged down to 32x32, transformed
/// with a 2-D DCT-II, and each of the 8x8 lowest-frequency coefficients becomes one bit — set when it lies
/// above the median of the 63 non-DC ones. Coarse structure survives re-encoding and scaling; other content
/// does not, so the Hamming distance between two hashes says "same picture" or "different picture".
public struct PerceptualHash: Hashable, Sendable, CustomStringConvertible {
    public let bits: UInt64

    /// Side of the reduced picture the DCT runs on.
    public static let reducedSize = 32
    /// Side of the low-frequency block kept.
    public static let keptSize = 8
    public init(bits: UInt64) { self.bits = bits }

    /// The hash of a luma plane.
    public init(luma: PlaneImage) {
        let n = Self.reducedSize, k = Self.keptSize
        let reduced = luma.resampled(width: n, height: n)
        let basis = Self.cosineBasis
        // rows[u][x] = Σ_y basis[u][y] · pixel[y][x], for the kept u only (separable DCT).
        var rows = [Double](repeating: 0, count: k * n)
        for u in 0..<k {
            for y in 0..<n {
                let weight = basis[u * n + y]
                for x in 0..<n { rows[u * n + x] += weight * Double(reduced.pixels[y * n + x]) }
            }
        }
        var coefficients = [Double](repeating: 0, count: k * k)
        for u in 0..<k {
            for v in 0..<k {
                var sum = 0.0
                for x in 0..<n { sum += rows[u * n + x] * basis[v * n + x] }
                coefficients[u * k + v] = sum
            }
        }
        let median = Array(coefficients.dropFirst()).sorted()[(k * k - 1) / 2]
        var bits: UInt64 = 0
        for (index, value) in coefficients.enumerated() where value > median { bits |= 1 << UInt64(index) }
        self.bits = bits
    }

    /// cos(π(2x+1)u / 2N), the DCT-II basis (unnormalised: the median threshold does not care about scale).
    static let cosineBasis: [Double] = {
        let n = reducedSize
        var basis = [Double](repeating: 0, count: n * n)
        for u in 0..<n { for x in 0..<n { basis[u * n + x] = cos(Double.pi * Double(2 * x + 1) * Double(u) / Double(2 * n)) } }
        return basis
    }()

    /// Bits that differ.
    public func distance(to other: PerceptualHash) -> Int { (bits ^ other.bits).nonzeroBitCount }

    /// 16 hex digits.
    public var description: String {
        let hex = String(bits, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public init?(hex: String) {
        guard hex.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        bits = value
    }
}

/// The perceptual hashes of a segment's frames at fixed fractions of its length, as one hex string
/// (`hash:hash:...`): two renditions of the same segment, from different farmers, can be compared with it
/// without the source.
public struct SegmentFingerprint: Sendable, CustomStringConvertible {
    /// Where the fingerprinted frames sit, as fractions of the frame count (fixed so every verifier picks the same frames).
    public static let positions: [Double] = [0, 0.25, 0.5, 0.75]
    public let hashes: [PerceptualHash]

    public init(hashes: [PerceptualHash]) { self.hashes = hashes }

    public init?(_ text: String) {
        let parts = text.split(separator: ":").compactMap { PerceptualHash(hex: String($0)) }
        guard !parts.isEmpty else { return nil }
        hashes = parts
    }

    /// Frame indices to fingerprint in a segment of `frameCount` frames.
    public static func frameIndices(frameCount: Int) -> [Int] {
        Array(Set(positions.map { min(frameCount - 1, Int((Double(frameCount) * $0).rounded(.down))) })).sorted()
    }

    public var description: String { hashes.map(\.description).joined(separator: ":") }

    /// Mean Hamming distance between corresponding hashes; nil when the fingerprints cover different frames.
    public func distance(to other: SegmentFingerprint) -> Double? {
        guard hashes.count == other.hashes.count, !hashes.isEmpty else { return nil }
        return Double(zip(hashes, other.hashes).reduce(0) { $0 + $1.0.distance(to: $1.1) }) / Double(hashes.count)
    }
}

extension PlaneImage {
    /// Area-averaged resampling to any size (each output sample the mean of the input samples its cell covers).
    public func resampled(width outWidth: Int, height outHeight: Int) -> PlaneImage {
        withView { $0.resampled(width: outWidth, height: outHeight) }
    }
}

extension PlaneView {
    /// Area-averaged resampling of a borrowed plane, read in place (no copy of the full-size plane first).
    public func resampled(width outWidth: Int, height outHeight: Int) -> PlaneImage {
        var out = [UInt8](repeating: 0, count: outWidth * outHeight)
        let width = width, height = height
        // Column spans of each output sample, the same on every row; each output row sums its input rows' spans.
        let spans = (0..<outWidth).map { ox -> (Int, Int) in
            let x0 = ox * width / outWidth
            return (x0, max(x0 + 1, (ox + 1) * width / outWidth))
        }
        // Each output row first sums its input rows column by column (a straight pass the compiler vectorises),
        // then each output sample sums its span of those column sums: the same integer sums, in fewer steps.
        // 32-bit column sums (four to a vector register): a column of 16 million rows of 255 still fits.
        var columns = [UInt32](repeating: 0, count: width)
        out.withUnsafeMutableBufferPointer { o in
            columns.withUnsafeMutableBufferPointer { columns in
                spans.withUnsafeBufferPointer { spans in
                    for oy in 0..<outHeight {
                        let y0 = oy * height / outHeight, y1 = max(y0 + 1, (oy + 1) * height / outHeight)
                        for x in 0..<width { columns[x] = 0 }
                        for y in y0..<y1 {
                            let p = row(y)
                            for x in 0..<width { columns[x] &+= UInt32(p[x]) }
                        }
                        for ox in 0..<outWidth {
                            let (x0, x1) = spans[ox]
                            var sum = 0
                            var x = x0
                            while x < x1 { sum &+= Int(columns[x]); x &+= 1 }
                            let count = (y1 - y0) * (x1 - x0)
                            o[oy * outWidth + ox] = UInt8((sum + count / 2) / count)
                        }
                    }
                }
            }
        }
        return PlaneImage(width: outWidth, height: outHeight, pixels: out)
    }
}
