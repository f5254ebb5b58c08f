/// Problems with the media a user handed us: these map to exit code 2 at the command line.
public enum MediaError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    case noVideoStream(path: String)
    case unsupportedCodec(path: String, codec: String)
    case tooLarge(path: String, width: Int, height: Int, limit: Int)
    case noFrames(path: String)
    case encoderUnavailable(name: String, reason: String)
    case deviceUnavailable(type: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot read \(path): \(reason)"
        case let .noVideoStream(path): return "\(path) has no video stream"
        case let .unsupportedCodec(path, codec): return "\(path): no decoder for video codec '\(codec)'"
        case let .tooLarge(path, width, height, limit):
            return "\(path) is \(width)x\(height), larger than the \(limit)x\(limit) Prism accepts"
        case let .noFrames(path): return "\(path) has no decodable video frames"
        case let .encoderUnavailable(name, reason): return "encoder \(name) is not available on this host: \(reason)"
        case let .deviceUnavailable(type, reason): return "no \(type) device: \(reason)"
        case let .cannotWrite(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Guards on what Prism accepts, with the reason each exists.
public enum MediaLimits {
    /// Larger frames than 8192 on a side are almost always hostile input (decompression bombs); no ladder needs them.
    public static let maximumDimension = 8192
}
