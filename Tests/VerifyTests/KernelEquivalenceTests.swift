import PrismTestSupport
import Foundation
import Media
import Testing
@testable import Verify

/// The verifier's per-pixel kernels run in 32-bit lanes, separable passes and selection instead of sorting; each must
/// give exactly what the plain formula gives (every verdict threshold was set on those values). Checked against the
/// plain formulas, written out here, on decoded frames of the 720p fixture and on seeded planes of awkward sizes.
@Suite struct KernelEquivalenceTests {
    /// Luma and chroma planes: decoded fixture frames (the content the kernels see) and seeded noise and extremes.
    static func planes() throws -> [PlaneImage] {
        var planes: [PlaneImage] = []
        var converter: Scaler?
        let reader = try VideoFrameReader(path: TestClips.fixture("pan-720p.mp4"))
        var index = 0
        while let frame = try reader.next(), index <= 8 {
            if index % 8 == 0 {
                let image = YUVImage(frame: try FramePlanes.as420(frame, converter: &converter), time: 0)
                planes += image.planes
            }
            index += 1
        }
        var generator = SeededGenerator(seed: 42)
        for (width, height) in [(3, 3), (8, 8), (17, 9), (101, 37), (640, 360), (1283, 5)] {
            planes.append(PlaneImage(width: width, height: height, pixels: (0..<(width * height)).map { _ in UInt8.random(in: 0...255, using: &generator) }))
            planes.append(PlaneImage(width: width, height: height, pixels: (0..<(width * height)).map { $0 % 2 == 0 ? 255 : 0 }))
        }
        return planes
    }

    static func plainDetailEnergy(_ plane: PlaneImage) -> Double {
        let w = plane.width, h = plane.height, p = plane.pixels
        guard w > 2, h > 2 else { return 0 }
        var total = 0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let i = y * w + x
                let l = 4 * Int(p[i]) - Int(p[i - 1]) - Int(p[i + 1]) - Int(p[i - w]) - Int(p[i + w])
                total += l * l
            }
        }
        return Double(total) / Double((w - 2) * (h - 2))
    }

    static func plainInteriorDetailEnergy(_ plane: PlaneImage) -> Double {
        let w = plane.width, h = plane.height, p = plane.pixels
        guard w >= 8, h >= 8 else { return 0 }
        var total = 0, count = 0
        for y in 1..<(h - 1) where y & 3 == 1 || y & 3 == 2 {
            for x in 1..<(w - 1) where x & 3 == 1 || x & 3 == 2 {
                let i = y * w + x
                let l = 4 * Int(p[i]) - Int(p[i - 1]) - Int(p[i + 1]) - Int(p[i - w]) - Int(p[i + w])
                total += l * l
                count += 1
            }
        }
        return count > 0 ? Double(total) / Double(count) : 0
    }

    static func plainResampled(_ plane: PlaneImage, width outWidth: Int, height outHeight: Int) -> [UInt8] {
        var out: [UInt8] = []
        for oy in 0..<outHeight {
            let y0 = oy * plane.height / outHeight, y1 = max(y0 + 1, (oy + 1) * plane.height / outHeight)
            for ox in 0..<outWidth {
                let x0 = ox * plane.width / outWidth, x1 = max(x0 + 1, (ox + 1) * plane.width / outWidth)
                var sum = 0
                for y in y0..<y1 { for x in x0..<x1 { sum += Int(plane.pixels[y * plane.width + x]) } }
                let count = (y1 - y0) * (x1 - x0)
                out.append(UInt8((sum + count / 2) / count))
            }
        }
        return out
    }

    @Test func picturesSumsMatchThePlainFormulas() throws {
        let planes = try Self.planes()
        for (k, plane) in planes.enumerated() {
            #expect(PictureStatistics.detailEnergy(plane) == Self.plainDetailEnergy(plane), "plane \(k)")
            #expect(PictureStatistics.interiorDetailEnergy(plane) == Self.plainInteriorDetailEnergy(plane), "plane \(k)")
            let values = plane.pixels.map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            let squares = plane.pixels.reduce(0) { $0 + Int($1) * Int($1) }
            let expected = (mean, sqrt(max(0, Double(squares) / Double(values.count) - mean * mean)))
            let found = PictureStatistics.meanAndDeviation(plane)
            #expect(found.mean == expected.0 && found.deviation == expected.1, "plane \(k)")
            for (width, height) in [(32, 32), (9, 7), (plane.width, plane.height), (plane.width * 2 + 1, plane.height + 3)] {
                #expect(plane.resampled(width: width, height: height).pixels == Self.plainResampled(plane, width: width, height: height),
                        "plane \(k) to \(width)x\(height)")
            }
        }
    }

    @Test func twoPictureSumsMatchThePlainFormulas() throws {
        let planes = try Self.planes()
        var generator = SeededGenerator(seed: 7)
        for (k, a) in planes.enumerated() {
            // The same plane disturbed (coding-like error) and an unrelated one of the same size (large error).
            let b = PlaneImage(width: a.width, height: a.height, pixels: a.pixels.map { UInt8(clamping: Int($0) + Int.random(in: -9...9, using: &generator)) })
            let c = planes.first { $0.width == a.width && $0.height == a.height && $0.pixels != a.pixels } ?? b
            for (x, y) in [(a, b), (a, c), (b, c)] {
                let plain = zip(x.pixels, y.pixels).reduce(0) { $0 + (Int($1.0) - Int($1.1)) * (Int($1.0) - Int($1.1)) }
                #expect(PictureStatistics.meanSquaredDifference(x, y) == Double(plain) / Double(x.pixels.count), "plane \(k)")
                let products = PictureStatistics.errorProducts(source: a, a: x, b: y)
                var cross = 0.0, energyA = 0.0, energyB = 0.0
                for i in 0..<a.pixels.count {
                    let s = Double(a.pixels[i]), u = Double(x.pixels[i]) - s, v = Double(y.pixels[i]) - s
                    cross += u * v; energyA += u * u; energyB += v * v
                }
                #expect(Double(products.cross) == cross && Double(products.a) == energyA && Double(products.b) == energyB, "plane \(k)")
                // The chroma fit's sums, as the Double accumulation made them.
                var saa = 0.0, sbb = 0.0, sab = 0.0, sra = 0.0, srb = 0.0, sa = 0.0, sb = 0.0, sr = 0.0
                for i in 0..<x.pixels.count {
                    let p = Double(x.pixels[i]) - 128, q = Double(y.pixels[i]) - 128, r = Double(a.pixels[i]) - 128
                    saa += p * p; sbb += q * q; sab += p * q; sra += r * p; srb += r * q; sa += p; sb += q; sr += r
                }
                let n = Double(x.pixels.count)
                let caa = saa - sa * sa / n, cbb = sbb - sb * sb / n, cab = sab - sa * sb / n
                let cra = sra - sr * sa / n, crb = srb - sr * sb / n
                let determinant = caa * cbb - cab * cab
                let mix = PictureStatistics.chromaMix(rendition: a, same: x, other: y)
                if determinant > 1e-6 * max(1, caa * cbb), caa > n * 4 {
                    let gain = (cra * cbb - crb * cab) / determinant, crossTalk = (crb * caa - cra * cab) / determinant
                    #expect(mix.gain == gain && mix.cross == crossTalk && mix.offset == (sr - gain * sa - crossTalk * sb) / n, "plane \(k)")
                } else {
                    #expect(mix.gain == 1 && mix.cross == 0 && mix.offset == (sr - sa) / n, "plane \(k)")
                }
            }
        }
    }

    @Test func blockStatisticsMatchSortingAndThePlainSums() throws {
        let planes = try Self.planes().filter { $0.width >= 16 && $0.height >= 16 }
        var generator = SeededGenerator(seed: 11)
        for (k, source) in planes.enumerated() {
            let rendition = PlaneImage(width: source.width, height: source.height,
                                       pixels: source.pixels.map { UInt8(clamping: Int($0) + Int.random(in: -20...20, using: &generator)) })
            for blockSize in [8, 16] {
                let blocks = BlockStatistics(rendition: rendition, source: source, blockSize: blockSize)
                let area = Double(blockSize * blockSize)
                for by in 0..<blocks.rows {
                    for bx in 0..<blocks.columns where (by * blocks.columns + bx) % 7 == 0 {
                        var dd = 0, sumS = 0, sumSS = 0
                        for y in (by * blockSize)..<((by + 1) * blockSize) {
                            for x in (bx * blockSize)..<((bx + 1) * blockSize) {
                                let a = Int(rendition.pixels[y * source.width + x]), b = Int(source.pixels[y * source.width + x])
                                dd += (a - b) * (a - b); sumS += b; sumSS += b * b
                            }
                        }
                        let index = by * blocks.columns + bx
                        #expect(blocks.meanSquaredError[index] == Float(Double(dd) / area), "plane \(k) block \(index)")
                        let meanS = Double(sumS) / area
                        #expect(blocks.sourceVariance[index] == Float(max(0, Double(sumSS) / area - meanS * meanS)), "plane \(k) block \(index)")
                    }
                }
                // The flat and textured quarters, as a stable sort by variance picks them.
                let order = blocks.sourceVariance.indices.sorted { blocks.sourceVariance[$0] < blocks.sourceVariance[$1] }
                let quarter = max(1, order.count / 4)
                let flat = order.prefix(quarter).map { blocks.meanSquaredError[$0] }.sorted()
                let textured = order.suffix(quarter).map { blocks.meanSquaredError[$0] }.sorted()
                #expect(blocks.flatToTexturedError == Double(flat[flat.count / 2]) / Double(max(textured[textured.count / 2], VerdictThresholds.excessErrorFloor)))
            }
        }
    }

    @Test func selectionFindsTheSortedMedian() {
        var generator = SeededGenerator(seed: 3)
        for count in [1, 2, 3, 4, 5, 8, 63, 64, 1000] {
            for spread in [1, 4, 1000] {
                let values = (0..<count).map { _ in Float(Int.random(in: 0..<spread, using: &generator)) / 4 }
                #expect(BlockStatistics.median(values) == values.sorted()[count / 2], "\(count) values over \(spread)")
            }
        }
        #expect(BlockStatistics.median([]) == 0)
    }
}
