import Foundation
import Media


/// A clip that looks like camera footage, made from a seed: a large multi-octave noise "landscape" with
/// coloured regions, seen through a virtual camera that pans, zooms and wobbles. (No per-frame sensor
/// noise: encoders rightly smooth it away, which a verifier cannot tell from lost detail.)
/// Nobody can precompute or cache its encode without the seed.
public final class SyntheticClip {
    public let width: Int
    public let height: Int
    public let frameRate: Int
    public let frameCount: Int
    private var generator: SeededGenerator
    private let texture: Frame
    private let textureWidth: Int
    private let textureHeight: Int
    private let scaler: Scaler
    private var produced = 0
    private let panX: Double, panY: Double, zoom: Double
    static let maximumTextureWidth = 3840

    public init(width: Int, height: Int, frameRate: Int, seconds: Double, seed: UInt64) throws {
        self.width = width
        self.height = height
        self.frameRate = frameRate
        frameCount = max(1, Int((seconds * Double(frameRate)).rounded()))
        generator = SeededGenerator(seed: seed)
        // The camera always sees at least as many texels as it has pixels (the window is 1.5× the frame, zooming
        // to 1.05×), so the picture never gets upscaled and keeps a photo's fine detail; capped to keep painting fast.
        textureWidth = min(width * 22 / 10, SyntheticClip.maximumTextureWidth) / 2 * 2
        textureHeight = min(height * 22 / 10, SyntheticClip.maximumTextureWidth * 9 / 16) / 2 * 2
        texture = try Frame.video(width: textureWidth, height: textureHeight, format: PixelFormat.yuv420p)
        scaler = Scaler(width: width, height: height, format: PixelFormat.yuv420p, algorithm: .area)
        panX = Double.random(in: 0.2...0.45, using: &generator)
        panY = Double.random(in: -0.15...0.15, using: &generator)
        zoom = Double.random(in: 0.1...0.3, using: &generator)
        paintTexture()
    }

    /// The next frame (pts = its index in 1/frameRate), or nil after `frameCount` frames.
    public func next() throws -> Frame? {
        guard produced < frameCount else { return nil }
        let t = Double(produced) / Double(max(frameCount - 1, 1))
        // Camera window: shrinks as it zooms in, slides right and drifts vertically, with a small wobble.
        let scale = 1.5 * (1.0 - zoom * t)
        let windowWidth = min(textureWidth, Int(Double(width) * scale)) / 2 * 2
        let windowHeight = min(textureHeight, Int(Double(height) * scale)) / 2 * 2
        let wobble = sin(Double(produced) / 3.1) * 3
        let x = Int((Double(textureWidth - windowWidth) * (0.1 + panX * t) + wobble).clamped(0, Double(textureWidth - windowWidth))) / 2 * 2
        let y = Int((Double(textureHeight - windowHeight) * (0.5 + panY * t) + wobble).clamped(0, Double(textureHeight - windowHeight))) / 2 * 2
        let window = try texture.window(x: x, y: y, width: windowWidth, height: windowHeight)
        let frame = try scaler.scale(window)
        frame.pts = Int64(produced)
        produced += 1
        return frame
    }

    private func paintTexture() {
        // Value noise at several octaves: broad shapes plus fine detail, like foliage or rock. Amplitude falls
        // about as fast as frequency rises (a photograph's 1/f spectrum), so fine detail is present but not noise.
        let octaves = [(cell: 128, amplitude: 60.0), (cell: 32, amplitude: 30.0), (cell: 8, amplitude: 14.0), (cell: 2, amplitude: 6.0)]
        var luma = [Double](repeating: 110, count: textureWidth * textureHeight)
        for octave in octaves {
            let gridWidth = textureWidth / octave.cell + 2, gridHeight = textureHeight / octave.cell + 2
            let grid = (0..<(gridWidth * gridHeight)).map { _ in Double.random(in: -1...1, using: &generator) }
            for row in 0..<textureHeight {
                let gy = Double(row) / Double(octave.cell)
                let y0 = Int(gy), fy = smooth(gy - Double(y0))
                for column in 0..<textureWidth {
                    let gx = Double(column) / Double(octave.cell)
                    let x0 = Int(gx), fx = smooth(gx - Double(x0))
                    let top = grid[y0 * gridWidth + x0] * (1 - fx) + grid[y0 * gridWidth + x0 + 1] * fx
                    let bottom = grid[(y0 + 1) * gridWidth + x0] * (1 - fx) + grid[(y0 + 1) * gridWidth + x0 + 1] * fx
                    luma[row * textureWidth + column] += (top * (1 - fy) + bottom * fy) * octave.amplitude
                }
            }
        }
        let lumaBase = texture.planeBase(0)!, lumaStride = texture.lineSize(0)
        for row in 0..<textureHeight {
            for column in 0..<textureWidth {
                lumaBase[row * lumaStride + column] = UInt8(luma[row * textureWidth + column].clamped(16, 235))
            }
        }
        // Chroma: a few broad colour regions (sky, vegetation, earth) that drift with the luma.
        let hues = (0..<6).map { _ in (Double.random(in: 90...166, using: &generator), Double.random(in: 90...166, using: &generator)) }
        for plane in 1...2 {
            let base = texture.planeBase(plane)!, stride = texture.lineSize(plane)
            for row in 0..<(textureHeight / 2) {
                for column in 0..<(textureWidth / 2) {
                    let region = (column * 3 / (textureWidth / 2) + (row * 2 / (textureHeight / 2)) * 3) % hues.count
                    let tint = plane == 1 ? hues[region].0 : hues[region].1
                    let detail = (luma[(row * 2) * textureWidth + column * 2] - 110) * 0.08
                    base[row * stride + column] = UInt8((tint + detail).clamped(16, 240))
                }
            }
        }
    }

    private func smooth(_ t: Double) -> Double { t * t * (3 - 2 * t) }
}

extension Comparable {
    func clamped(_ low: Self, _ high: Self) -> Self { min(max(self, low), high) }
}
