/// SSIM of every 8x8 window of a luma plane (windows step by 4 pixels, as in `SSIMKernel`): where a
/// rendition departs from its source, for localising damage rather than scoring the whole frame.
public struct SSIMMap: Sendable {
    /// Windows across and down: (width/4 - 1) x (height/4 - 1).
    public let columns: Int
    public let rows: Int
    /// Row-major window values.
    public let values: [Float]
    /// Pixels between neighbouring windows' origins.
    public static let windowStep = 4
    public static let windowSize = 8

    /// The map of `distorted` against `reference` (same size).
    public init(distorted: PlaneImage, reference: PlaneImage) {
        let columns = max(0, distorted.width / 4 - 1), rows = max(0, distorted.height / 4 - 1)
        var values = [Float](repeating: 1, count: columns * rows)
        if columns > 0 && rows > 0 {
            values.withUnsafeMutableBufferPointer { out in
                distorted.withView { d in reference.withView { r in _ = SSIMKernel.plane(d, r, map: out.baseAddress!) } }
            }
        }
        self.columns = columns
        self.rows = rows
        self.values = values
    }

    public subscript(column: Int, row: Int) -> Float { values[row * columns + column] }

    /// Mean value, equal to the plane SSIM the kernel reports.
    public var mean: Double { values.isEmpty ? 1 : values.reduce(0) { $0 + Double($1) } / Double(values.count) }
}
