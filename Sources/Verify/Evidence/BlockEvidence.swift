import Foundation

/// Per-block comparison of a rendition's luma with its source's (scaled to the rendition's size): where the
/// error sits, whether it has a sign (something drawn on top) and whether detail was lost there (blurring).
public struct BlockStatistics: Sendable {
    public let blockSize: Int
    public let columns: Int
    public let rows: Int
    /// Mean squared error per block.
    public var meanSquaredError: [Float]
    /// Mean of rendition − source per block: an encoder's error averages out, an overlay's does not.
    public var bias: [Float]
    /// Variance of the source block: how much texture an encoder had to spend bits on there.
    public var sourceVariance: [Float]
    /// Variance of the rendition block.
    public var renditionVariance: [Float]

    /// Blocks of 16x16 from 480 lines up, 8x8 below (so a small logo at 240p still covers whole blocks).
    public static func blockSize(forHeight height: Int) -> Int { height >= 480 ? 16 : 8 }

    public init(rendition: PlaneImage, source: PlaneImage, blockSize: Int) {
        precondition(rendition.width == source.width && rendition.height == source.height)
        precondition(blockSize >= 1 && blockSize <= 16, "block sums are kept in 32 bits")
        self.blockSize = blockSize
        columns = rendition.width / blockSize
        rows = rendition.height / blockSize
        let count = columns * rows
        meanSquaredError = [Float](repeating: 0, count: count)
        bias = meanSquaredError
        sourceVariance = meanSquaredError
        renditionVariance = meanSquaredError
        let width = rendition.width
        let area = Double(blockSize * blockSize)
        rendition.pixels.withUnsafeBufferPointer { r in
            source.pixels.withUnsafeBufferPointer { s in
                for by in 0..<rows {
                    for bx in 0..<columns {
                        // A block of at most 16x16 samples keeps every sum inside 32 bits (256 × 255²).
                        var sumR: Int32 = 0, sumS: Int32 = 0, sumRR: Int32 = 0, sumSS: Int32 = 0, sumDD: Int32 = 0
                        for y in (by * blockSize)..<(by * blockSize + blockSize) {
                            let start = y * width + bx * blockSize
                            for x in start..<(start + blockSize) {
                                let a = Int32(r[x]), b = Int32(s[x])
                                sumR &+= a; sumS &+= b; sumRR &+= a &* a; sumSS &+= b &* b
                                let d = a &- b
                                sumDD &+= d &* d
                            }
                        }
                        let index = by * columns + bx
                        let meanR = Double(sumR) / area, meanS = Double(sumS) / area
                        meanSquaredError[index] = Float(Double(sumDD) / area)
                        bias[index] = Float(meanR - meanS)
                        sourceVariance[index] = Float(max(0, Double(sumSS) / area - meanS * meanS))
                        renditionVariance[index] = Float(max(0, Double(sumRR) / area - meanR * meanR))
                    }
                }
            }
        }
    }

    /// Each block's error divided by what an encoder typically leaves in blocks of similar texture in this
    /// same frame (the median error of its texture class). Honest coding error follows texture; an overlay
    /// or a blurred patch stands out against its class.
    public func excessError() -> [Float] {
        // Texture classes: octaves of source variance (flat, faint grain, … strong edges).
        let classCount = 12
        func textureClass(_ variance: Float) -> Int { min(classCount - 1, Int(log2(Double(variance) + 1))) }
        var members = [[Float]](repeating: [], count: classCount)
        for (index, variance) in sourceVariance.enumerated() { members[textureClass(variance)].append(meanSquaredError[index]) }
        let frameMedian = Self.median(meanSquaredError)
        let typical: [Float] = members.map { values in
            // A class too small to have its own median borrows the frame's.
            values.count >= 8 ? Self.median(values) : frameMedian
        }
        return sourceVariance.indices.map { index in
            // The floor keeps near-lossless frames (errors of 0–1) from turning rounding into "excess".
            meanSquaredError[index] / max(typical[textureClass(sourceVariance[index])], VerdictThresholds.excessErrorFloor)
        }
    }

    /// The upper median: the element a sort would put at `count / 2`, found by selection (no NaN reaches here:
    /// errors and variances are sums of squares).
    static func median(_ values: [Float]) -> Float {
        guard !values.isEmpty else { return 0 }
        var values = values
        return values.withUnsafeMutableBufferPointer { select($0, rank: $0.count / 2) }
    }

    /// The element of rank `k` (0-based, ascending) of `v`, reordering it (Hoare's selection, middle pivot).
    static func select(_ v: UnsafeMutableBufferPointer<Float>, rank k: Int) -> Float {
        var low = 0, high = v.count - 1
        while low < high {
            let pivot = v[low + (high - low) / 2]
            var i = low, j = high
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { high = j } else if k >= i { low = i } else { return v[k] }
        }
        return v[k]
    }
}

/// Calls `body` on `range` in consecutive runs of at most `length`: sums over a run fit 32-bit lanes (which the
/// compiler vectorises four at a time) when `length` times the largest term does, and each run's sum is then added
/// to a 64-bit total, so the result is the plain integer sum.
@inline(__always) func forEachRun(of range: Range<Int>, length: Int, _ body: (Range<Int>) -> Void) {
    var start = range.lowerBound
    while start < range.upperBound {
        let end = min(range.upperBound, start + length)
        body(start..<end)
        start = end
    }
}

/// Whole-picture statistics used by the global checks.
public enum PictureStatistics {
    /// Mean and standard deviation of a plane's samples.
    public static func meanAndDeviation(_ plane: PlaneImage) -> (mean: Double, deviation: Double) {
        var sum = 0, squares = 0
        plane.pixels.withUnsafeBufferPointer { p in
            // 65536 × 255² < 2³².
            forEachRun(of: 0..<p.count, length: 65536) { run in
                var runSum: UInt32 = 0, runSquares: UInt32 = 0
                for i in run { let v = UInt32(p[i]); runSum &+= v; runSquares &+= v &* v }
                sum &+= Int(runSum); squares &+= Int(runSquares)
            }
        }
        let n = Double(max(1, plane.pixels.count))
        let mean = Double(sum) / n
        return (mean, sqrt(max(0, Double(squares) / n - mean * mean)))
    }

    /// Mean squared 4-neighbour Laplacian: the energy of the finest detail. Encoders lower it a little; noise
    /// raises it; encoding small and upscaling removes most of it.
    public static func detailEnergy(_ plane: PlaneImage) -> Double {
        let w = plane.width, h = plane.height
        guard w > 2, h > 2 else { return 0 }
        var total = 0
        plane.pixels.withUnsafeBufferPointer { p in
            for y in 1..<(h - 1) {
                let row = y * w
                // A square is at most 1020²: 2048 of them fit a UInt32.
                forEachRun(of: (row + 1)..<(row + w - 1), length: 2048) { run in
                    var sum: UInt32 = 0
                    for i in run {
                        let l = 4 &* Int32(p[i]) &- Int32(p[i &- 1]) &- Int32(p[i &+ 1]) &- Int32(p[i &- w]) &- Int32(p[i &+ w])
                        sum &+= UInt32(bitPattern: l &* l)
                    }
                    total &+= Int(sum)
                }
            }
        }
        return Double(total) / Double((w - 2) * (h - 2))
    }

    /// Mean squared difference of two planes of one size.
    public static func meanSquaredDifference(_ a: PlaneImage, _ b: PlaneImage) -> Double {
        precondition(a.pixels.count == b.pixels.count)
        var total = 0
        a.pixels.withUnsafeBufferPointer { a in
            b.pixels.withUnsafeBufferPointer { b in
                // 65536 × 255² < 2³².
                forEachRun(of: 0..<a.count, length: 65536) { run in
                    var sum: UInt32 = 0
                    for i in run { let d = Int32(a[i]) &- Int32(b[i]); sum &+= UInt32(bitPattern: d &* d) }
                    total &+= Int(sum)
                }
            }
        }
        return Double(total) / Double(max(1, a.pixels.count))
    }

    /// Over the pixels, the sums of (a − s)(b − s), (a − s)² and (b − s)², s the source's sample: how alike two encodes'
    /// errors are (whole-number terms, so the integer sums are exactly what a Double accumulation reaches).
    static func errorProducts(source: PlaneImage, a: PlaneImage, b: PlaneImage) -> (cross: Int, a: Int, b: Int) {
        precondition(a.pixels.count == source.pixels.count && b.pixels.count == source.pixels.count)
        var cross = 0, aa = 0, bb = 0
        source.pixels.withUnsafeBufferPointer { s in
            a.pixels.withUnsafeBufferPointer { a in
                b.pixels.withUnsafeBufferPointer { b in
                    // Each term is at most 255² in size: 32768 × 255² < 2³¹.
                    forEachRun(of: 0..<s.count, length: 32768) { run in
                        var c: Int32 = 0, x2: Int32 = 0, y2: Int32 = 0
                        for i in run {
                            let x = Int32(a[i]) &- Int32(s[i]), y = Int32(b[i]) &- Int32(s[i])
                            c &+= x &* y; x2 &+= x &* x; y2 &+= y &* y
                        }
                        cross &+= Int(c); aa &+= Int(x2); bb &+= Int(y2)
                    }
                }
            }
        }
        return (cross, aa, bb)
    }

    /// Mean of a − b.
    public static func meanDifference(_ a: PlaneImage, _ b: PlaneImage) -> Double {
        var total = 0
        a.pixels.withUnsafeBufferPointer { a in
            b.pixels.withUnsafeBufferPointer { b in
                for i in 0..<min(a.count, b.count) { total &+= Int(a[i]) &- Int(b[i]) }
            }
        }
        return Double(total) / Double(max(1, a.pixels.count))
    }
}

/// A rectangle of the rendition (pixels) where a local tamper sits.
public struct RegionFinding: Codable, Sendable, Equatable {
    public let code: String
    public let x: Int, y: Int, w: Int, h: Int
    /// Mean excess error inside the region (how many times the typical error for its texture).
    public let strength: Double
    /// Share of the compared frames in which the region's blocks stood out.
    public let persistence: Double
}

/// Groups flagged blocks into rectangles (4-connected components).
enum RegionGrouping {
    static func components(flags: [Bool], columns: Int, rows: Int) -> [[Int]] {
        var seen = [Bool](repeating: false, count: flags.count)
        var groups: [[Int]] = []
        for start in flags.indices where flags[start] && !seen[start] {
            var stack = [start], group: [Int] = []
            seen[start] = true
            while let index = stack.popLast() {
                group.append(index)
                let x = index % columns, y = index / columns
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < columns && ny < rows {
                    let neighbour = ny * columns + nx
                    if flags[neighbour] && !seen[neighbour] { seen[neighbour] = true; stack.append(neighbour) }
                }
            }
            groups.append(group)
        }
        return groups
    }
}

extension PictureStatistics {
    /// Laplacian energy measured only inside 8x8 blocks (3x3 stencils that cross no 4-pixel grid line of a
    /// codec): block edges from coarse quantisation are left out, pixel-level grain that was added is not.
    public static func interiorDetailEnergy(_ plane: PlaneImage) -> Double {
        let w = plane.width, h = plane.height
        guard w >= 8, h >= 8 else { return 0 }
        var total = 0
        // Columns 1 and 2 of every group of 4 that lie inside 1..<w-1; the same on every row.
        let columns = stride(from: 0, to: w, by: 4).flatMap { [$0 + 1, $0 + 2] }.filter { $0 < w - 1 }
        let rows = stride(from: 0, to: h, by: 4).flatMap { [$0 + 1, $0 + 2] }.filter { $0 < h - 1 }
        plane.pixels.withUnsafeBufferPointer { p in
            columns.withUnsafeBufferPointer { columns in
                for y in rows {
                    let row = y * w
                    // A square is at most 1020²: 4096 of them fit a UInt32.
                    forEachRun(of: 0..<columns.count, length: 4096) { run in
                        var sum: UInt32 = 0
                        for k in run {
                            let i = row &+ columns[k]
                            let l = 4 &* Int32(p[i]) &- Int32(p[i &- 1]) &- Int32(p[i &+ 1]) &- Int32(p[i &- w]) &- Int32(p[i &+ w])
                            sum &+= UInt32(bitPattern: l &* l)
                        }
                        total &+= Int(sum)
                    }
                }
            }
        }
        let count = rows.count * columns.count
        return count > 0 ? Double(total) / Double(count) : 0
    }

    /// How much of the source's finest octave the rendition carries: the projection of the rendition's
    /// high-pass band onto the source's (high-pass = picture minus its 2x2-averaged, bilinearly re-expanded
    /// self). Coding noise and blocking are uncorrelated with the source's band and do not count; a picture
    /// encoded at half size and scaled up has almost none of it.
    public static func topOctaveRetention(rendition: PlaneImage, source: PlaneImage) -> Double {
        topOctaveRetention(rendition: rendition, sourceHighPass: highPass(source))
    }

    /// The same, with the source's high-pass band already computed (one source frame against several encodes).
    static func topOctaveRetention(rendition: PlaneImage, sourceHighPass s: [Float]) -> Double {
        let r = highPass(rendition)
        precondition(r.count == s.count)
        var cross = 0.0, energy = 0.0
        for i in 0..<r.count { cross += Double(r[i]) * Double(s[i]); energy += Double(s[i]) * Double(s[i]) }
        return energy > 0 ? cross / energy : 1
    }

    static func highPass(_ plane: PlaneImage) -> [Float] {
        let w = plane.width, h = plane.height
        let hw = w / 2, hh = h / 2
        guard hw >= 2, hh >= 2 else { return plane.pixels.map { _ in 0 } }
        var half = [Float](repeating: 0, count: hw * hh)
        var out = [Float](repeating: 0, count: w * h)
        // Bilinear re-expansion is separable: the horizontal taps are the same on every row, and each output row
        // blends two rows of the half-size picture first.
        let outWidth = hw * 2
        var left = [Int](repeating: 0, count: outWidth), right = [Int](repeating: 0, count: outWidth)
        var weight = [Float](repeating: 0, count: outWidth)
        for x in 0..<outWidth {
            let fx = max(0, min(Float(hw - 1), (Float(x) - 0.5) / 2))
            left[x] = Int(fx)
            right[x] = min(hw - 1, left[x] + 1)
            weight[x] = fx - Float(left[x])
        }
        var blended = [Float](repeating: 0, count: hw)
        plane.pixels.withUnsafeBufferPointer { p in
            half.withUnsafeMutableBufferPointer { half in
                for y in 0..<hh {
                    for x in 0..<hw {
                        let i = 2 * y * w + 2 * x
                        half[y * hw + x] = (Float(p[i]) + Float(p[i + 1]) + Float(p[i + w]) + Float(p[i + w + 1])) / 4
                    }
                }
                out.withUnsafeMutableBufferPointer { out in
                    blended.withUnsafeMutableBufferPointer { row in
                        left.withUnsafeBufferPointer { left in
                            right.withUnsafeBufferPointer { right in
                                weight.withUnsafeBufferPointer { weight in
                                    for y in 0..<(hh * 2) {
                                        let fy = max(0, min(Float(hh - 1), (Float(y) - 0.5) / 2))
                                        let y0 = Int(fy), y1 = min(hh - 1, y0 + 1), ty = fy - Float(y0)
                                        for k in 0..<hw { row[k] = half[y0 * hw + k] * (1 - ty) + half[y1 * hw + k] * ty }
                                        for x in 0..<outWidth {
                                            let t = weight[x]
                                            out[y * w + x] = Float(p[y * w + x]) - (row[left[x]] * (1 - t) + row[right[x]] * t)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension PictureStatistics {
    /// Least-squares fit of a rendition chroma plane as a linear mix of the source's two chroma planes
    /// (around neutral 128): `r = gain·same + cross·other + offset`. Encoding keeps gain near 1 and cross
    /// near 0; a hue rotation shows as cross-talk, a saturation change as gain, a cast as offset.
    public static func chromaMix(rendition: PlaneImage, same: PlaneImage, other: PlaneImage) -> (gain: Double, cross: Double, offset: Double) {
        // Integer sums: every term is a whole number (at most 128² apart from 0) and every partial sum stays far
        // below 2⁵³, so these are the sums a Double accumulation gives exactly, in a loop that vectorises.
        precondition(same.pixels.count >= rendition.pixels.count && other.pixels.count >= rendition.pixels.count)
        var iaa = 0, ibb = 0, iab = 0, ira = 0, irb = 0, ia = 0, ib = 0, ir = 0
        rendition.pixels.withUnsafeBufferPointer { rp in
            same.pixels.withUnsafeBufferPointer { ap in
                other.pixels.withUnsafeBufferPointer { bp in
                    // Every product is at most 128² in size: 65536 × 128² < 2³¹.
                    forEachRun(of: 0..<rp.count, length: 65536) { run in
                        var raa: Int32 = 0, rbb: Int32 = 0, rab: Int32 = 0, rra: Int32 = 0, rrb: Int32 = 0, ra: Int32 = 0, rb: Int32 = 0, rr: Int32 = 0
                        for i in run {
                            let a = Int32(ap[i]) &- 128, b = Int32(bp[i]) &- 128, r = Int32(rp[i]) &- 128
                            raa &+= a &* a; rbb &+= b &* b; rab &+= a &* b; rra &+= r &* a; rrb &+= r &* b; ra &+= a; rb &+= b; rr &+= r
                        }
                        iaa &+= Int(raa); ibb &+= Int(rbb); iab &+= Int(rab); ira &+= Int(rra); irb &+= Int(rrb); ia &+= Int(ra); ib &+= Int(rb); ir &+= Int(rr)
                    }
                }
            }
        }
        let saa = Double(iaa), sbb = Double(ibb), sab = Double(iab), sra = Double(ira), srb = Double(irb)
        let sa = Double(ia), sb = Double(ib), sr = Double(ir)
        let n = Double(rendition.pixels.count)
        // Centre the sums (the offset is fitted too).
        let caa = saa - sa * sa / n, cbb = sbb - sb * sb / n, cab = sab - sa * sb / n
        let cra = sra - sr * sa / n, crb = srb - sr * sb / n
        let determinant = caa * cbb - cab * cab
        // Grey pictures carry no chroma to fit: report "unchanged".
        guard determinant > 1e-6 * max(1, caa * cbb), caa > n * 4 else { return (1, 0, (sr - sa) / n) }
        let gain = (cra * cbb - crb * cab) / determinant
        let cross = (crb * caa - cra * cab) / determinant
        let offset = (sr - gain * sa - cross * sb) / n
        return (gain, cross, offset)
    }
}

extension BlockStatistics {
    /// Median error of the flattest quarter of blocks over that of the most textured quarter. Encoders put
    /// their error where the texture is (ratio well below 1); noise added on top lands everywhere (near 1).
    public var flatToTexturedError: Double {
        // Blocks by source variance, ties in block order (as a stable sort leaves them): variances are never
        // negative, so their bit patterns order as the values do, and each key ends in its block's index.
        let order = sourceVariance.enumerated().map { UInt64($0.element > 0 ? $0.element.bitPattern : 0) << 32 | UInt64($0.offset) }
            .sorted().map { Int($0 & 0xFFFF_FFFF) }
        let quarter = max(1, order.count / 4)
        let flat = Self.median(order.prefix(quarter).map { meanSquaredError[$0] })
        let textured = Self.median(order.suffix(quarter).map { meanSquaredError[$0] })
        return Double(flat) / Double(max(textured, VerdictThresholds.excessErrorFloor))
    }
}
