/// SSIM exactly as FFmpeg's `ssim` filter (libavfilter/vf_ssim.c, 8-bit path) defines it: sums over 4x4
/// blocks, each 8x8 window made of 2x2 neighbouring blocks (so windows step by 4 pixels and overlap),
/// the SSIM formula applied to the window's raw sums with constants scaled to match, and the plane's
/// value the mean over all whole windows.
public enum SSIMKernel {
    /// C1 = (K1·L)² with K1 = 0.01, L = 255, scaled by 64 (the pixel count of a window) because the formula
    /// works on sums instead of means; rounded as vf_ssim's `ssim_c1`.
    public static let c1 = Int32((Double(0.01 * 0.01) * Double(255 * 255 * 64) + 0.5).rounded(.down))
    /// C2 = (K2·L)² with K2 = 0.03, scaled by 64·63 (sums, and the unbiased variance's n-1); vf_ssim's `ssim_c2`.
    public static let c2 = Int32((Double(0.03 * 0.03) * Double(255 * 255 * 64 * 63) + 0.5).rounded(.down))

    /// Sums of one row of 4x4 blocks, one array per quantity (struct of arrays so the window step vectorises).
    /// Three extra zeroed blocks at the end, as vf_ssim pads its line buffers.
    struct BlockRowSums {
        var s1: [Int32], s2: [Int32], ss: [Int32], s12: [Int32]
        init(blocks: Int) {
            s1 = [Int32](repeating: 0, count: blocks + 3)
            s2 = s1; ss = s1; s12 = s1
        }
    }

    /// Mean SSIM of plane `a` against plane `b` (same size), and optionally every window's value written
    /// row by row into `map` ((width/4 - 1) x (height/4 - 1) values).
    /// Returns the sum of window values and the window count, as vf_ssim accumulates them.
    public static func plane(_ a: PlaneView, _ b: PlaneView, map: UnsafeMutablePointer<Float>? = nil) -> (sum: Double, windows: Int) {
        precondition(a.width == b.width && a.height == b.height, "SSIM needs planes of one size")
        let blocksWide = a.width >> 2, blocksHigh = a.height >> 2
        guard blocksWide >= 2, blocksHigh >= 2 else { return (0, 0) }
        var previous = BlockRowSums(blocks: blocksWide)
        var current = BlockRowSums(blocks: blocksWide)
        blockSums(a, b, blockRow: 0, into: &previous)
        var total = 0.0
        let windowsWide = blocksWide - 1
        for blockRow in 1..<blocksHigh {
            blockSums(a, b, blockRow: blockRow, into: &current)
            let lineMap = map.map { $0 + (blockRow - 1) * windowsWide }
            total += Double(windowLine(previous, current, windows: windowsWide, map: lineMap))
            swap(&previous, &current)
        }
        return (total, windowsWide * (blocksHigh - 1))
    }

    /// Σa, Σb, Σa²+Σb², Σab over each 4x4 block of one block row; 16 pixels (4 blocks) per SIMD step.
    static func blockSums(_ a: PlaneView, _ b: PlaneView, blockRow: Int, into sums: inout BlockRowSums) {
        let blocks = a.width >> 2
        let top = blockRow * 4
        let rowsA = (a.row(top), a.row(top + 1), a.row(top + 2), a.row(top + 3))
        let rowsB = (b.row(top), b.row(top + 1), b.row(top + 2), b.row(top + 3))
        sums.s1.withUnsafeMutableBufferPointer { s1 in
        sums.s2.withUnsafeMutableBufferPointer { s2 in
        sums.ss.withUnsafeMutableBufferPointer { ss in
        sums.s12.withUnsafeMutableBufferPointer { s12 in
            var block = 0
            while block + 4 <= blocks {
                let x = block * 4
                var v1 = SIMD16<Int32>(), v2 = SIMD16<Int32>(), vss = SIMD16<Int32>(), v12 = SIMD16<Int32>()
                for r in 0..<4 {
                    let pa: UnsafePointer<UInt8>, pb: UnsafePointer<UInt8>
                    switch r {
                    case 0: pa = rowsA.0; pb = rowsB.0
                    case 1: pa = rowsA.1; pb = rowsB.1
                    case 2: pa = rowsA.2; pb = rowsB.2
                    default: pa = rowsA.3; pb = rowsB.3
                    }
                    let va = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(pa + x).loadUnaligned(as: SIMD16<UInt8>.self))
                    let vb = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(pb + x).loadUnaligned(as: SIMD16<UInt8>.self))
                    v1 &+= va
                    v2 &+= vb
                    vss &+= va &* va &+ vb &* vb
                    v12 &+= va &* vb
                }
                storeQuads(v1, s1.baseAddress! + block)
                storeQuads(v2, s2.baseAddress! + block)
                storeQuads(vss, ss.baseAddress! + block)
                storeQuads(v12, s12.baseAddress! + block)
                block += 4
            }
            while block < blocks {
                var t1: Int32 = 0, t2: Int32 = 0, tss: Int32 = 0, t12: Int32 = 0
                for r in 0..<4 {
                    let pa = a.row(top + r) + block * 4, pb = b.row(top + r) + block * 4
                    for i in 0..<4 {
                        let va = Int32(pa[i]), vb = Int32(pb[i])
                        t1 += va; t2 += vb; tss += va * va + vb * vb; t12 += va * vb
                    }
                }
                s1[block] = t1; s2[block] = t2; ss[block] = tss; s12[block] = t12
                block += 1
            }
        }}}}
    }

    /// Adds each group of 4 neighbouring lanes: 16 pixel columns → 4 block sums.
    @inline(__always) static func storeQuads(_ v: SIMD16<Int32>, _ out: UnsafeMutablePointer<Int32>) {
        let pairs = v.evenHalf &+ v.oddHalf
        let quads = pairs.evenHalf &+ pairs.oddHalf
        UnsafeMutableRawPointer(out).storeBytes(of: quads, as: SIMD4<Int32>.self)
    }

    /// One line of windows: each window sums 2x2 blocks from two block rows, then vf_ssim's `ssim_end1`.
    /// Accumulated in Float per line, as vf_ssim's `ssim_endn` does.
    static func windowLine(_ top: BlockRowSums, _ bottom: BlockRowSums, windows: Int, map: UnsafeMutablePointer<Float>?) -> Float {
        var total: Float = 0
        top.s1.withUnsafeBufferPointer { t1 in top.s2.withUnsafeBufferPointer { t2 in
        top.ss.withUnsafeBufferPointer { tss in top.s12.withUnsafeBufferPointer { t12 in
        bottom.s1.withUnsafeBufferPointer { b1 in bottom.s2.withUnsafeBufferPointer { b2 in
        bottom.ss.withUnsafeBufferPointer { bss in bottom.s12.withUnsafeBufferPointer { b12 in
            @inline(__always) func window8(_ t: UnsafeBufferPointer<Int32>, _ b: UnsafeBufferPointer<Int32>, _ i: Int) -> SIMD8<Int32> {
                let raw = (t.baseAddress! + i, b.baseAddress! + i)
                let here = UnsafeRawPointer(raw.0).loadUnaligned(as: SIMD8<Int32>.self) &+ UnsafeRawPointer(raw.1).loadUnaligned(as: SIMD8<Int32>.self)
                let next = UnsafeRawPointer(raw.0 + 1).loadUnaligned(as: SIMD8<Int32>.self) &+ UnsafeRawPointer(raw.1 + 1).loadUnaligned(as: SIMD8<Int32>.self)
                return here &+ next
            }
            var i = 0
            // The +3 padding lets 8-wide loads at i+1 read at most 8 past i while i + 8 <= windows.
            while i + 8 <= windows {
                let value = end(window8(t1, b1, i), window8(t2, b2, i), window8(tss, bss, i), window8(t12, b12, i))
                if let map { UnsafeMutableRawPointer(map + i).storeBytes(of: value, as: SIMD8<Float>.self) }
                total += value.sum()
                i += 8
            }
            while i < windows {
                let s1 = t1[i] + t1[i + 1] + b1[i] + b1[i + 1]
                let s2 = t2[i] + t2[i + 1] + b2[i] + b2[i + 1]
                let ss = tss[i] + tss[i + 1] + bss[i] + bss[i + 1]
                let s12 = t12[i] + t12[i + 1] + b12[i] + b12[i + 1]
                let value = end1(s1, s2, ss, s12)
                map?[i] = value
                total += value
                i += 1
            }
        }}}}}}}}
        return total
    }

    /// vf_ssim's `ssim_end1`: SSIM of one 8x8 window from its sums (64 pixels, integer until the division).
    @inline(__always) public static func end1(_ s1: Int32, _ s2: Int32, _ ss: Int32, _ s12: Int32) -> Float {
        let variances = ss &* 64 &- s1 &* s1 &- s2 &* s2
        let covariance = s12 &* 64 &- s1 &* s2
        return Float(2 &* s1 &* s2 &+ c1) * Float(2 &* covariance &+ c2)
            / (Float(s1 &* s1 &+ s2 &* s2 &+ c1) * Float(variances &+ c2))
    }

    @inline(__always) static func end(_ s1: SIMD8<Int32>, _ s2: SIMD8<Int32>, _ ss: SIMD8<Int32>, _ s12: SIMD8<Int32>) -> SIMD8<Float> {
        let sixtyFour = SIMD8<Int32>(repeating: 64)
        let variances: SIMD8<Int32> = ss &* sixtyFour &- s1 &* s1 &- s2 &* s2
        let covariance: SIMD8<Int32> = s12 &* sixtyFour &- s1 &* s2
        let c1v = SIMD8<Int32>(repeating: c1), c2v = SIMD8<Int32>(repeating: c2)
        let two = SIMD8<Int32>(repeating: 2)
        let meanTerm: SIMD8<Int32> = two &* s1 &* s2 &+ c1v
        let covarianceTerm: SIMD8<Int32> = two &* covariance &+ c2v
        let squaresTerm: SIMD8<Int32> = s1 &* s1 &+ s2 &* s2 &+ c1v
        let varianceTerm: SIMD8<Int32> = variances &+ c2v
        let numerator: SIMD8<Float> = SIMD8<Float>(meanTerm) * SIMD8<Float>(covarianceTerm)
        let denominator: SIMD8<Float> = SIMD8<Float>(squaresTerm) * SIMD8<Float>(varianceTerm)
        return numerator / denominator
    }
}

/// Sum of squared differences, the input of FFmpeg's `psnr` filter (libavfilter/vf_psnr.c).
public enum PSNRKernel {
    /// Σ(a−b)² over a plane, 16 pixels per SIMD step.
    public static func squaredError(_ a: PlaneView, _ b: PlaneView) -> UInt64 {
        precondition(a.width == b.width && a.height == b.height, "PSNR needs planes of one size")
        var total: UInt64 = 0
        for y in 0..<a.height {
            let ra = a.row(y), rb = b.row(y)
            var lanes = SIMD16<Int32>()
            var x = 0
            // Per row, a lane holds at most width/16 · 255², far below Int32's range for any width Prism accepts.
            while x + 16 <= a.width {
                let va = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(ra + x).loadUnaligned(as: SIMD16<UInt8>.self))
                let vb = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(rb + x).loadUnaligned(as: SIMD16<UInt8>.self))
                let d = va &- vb
                lanes &+= d &* d
                x += 16
            }
            var rowTotal = Int(lanes.wrappedSum())
            while x < a.width {
                let d = Int(ra[x]) - Int(rb[x])
                rowTotal += d * d
                x += 1
            }
            total += UInt64(rowTotal)
        }
        return total
    }

    /// PSNR in dB for a mean squared error and a peak value (255 for 8-bit), as vf_psnr's `get_psnr`.
    public static func psnr(meanSquaredError: Double, peak: Double = 255) -> Double {
        10 * log10(peak * peak / meanSquaredError)
    }
}

import Foundation
