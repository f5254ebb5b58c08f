import CFFmpeg
import Foundation

/// An FFmpeg call that failed, with the function that failed and FFmpeg's own explanation.
public struct FFmpegError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let function: String

    public init(code: Int32, function: String) {
        self.code = code
        self.function = function
    }

    /// FFmpeg's text for the code (`av_strerror`).
    public var message: String { FFmpegError.text(for: code) }

    public var description: String { "\(function): \(message)" }

    public var isEndOfFile: Bool { code == cffmpeg_averror_eof() }
    public var isInvalidData: Bool { code == cffmpeg_averror_invaliddata() }
    /// The disk (or quota, or file size limit) the output goes to is full: the host's problem, not Prism's.
    public var isOutOfSpace: Bool { [ENOSPC, EDQUOT, EFBIG].contains { code == cffmpeg_averror($0) } }

    static func text(for code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cffmpeg_error_max_string_size()) + 1)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "error \(code)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// What a send/receive call on a codec meant, when it did not fail.
public enum CodecStep: Equatable, Sendable {
    case ok
    /// EAGAIN: the codec wants the other side of the call pair first.
    case needsInput
    /// AVERROR_EOF: the codec has been flushed dry.
    case endOfStream
}

/// The one funnel for FFmpeg return codes: EAGAIN and EOF become values, other negatives throw.
@discardableResult
func ffCheck(_ code: Int32, _ function: @autoclosure () -> String) throws -> Int32 {
    if code < 0 { throw FFmpegError(code: code, function: function()) }
    return code
}

/// Like `ffCheck`, for calls where EAGAIN and EOF are control flow rather than failures.
func ffStep(_ code: Int32, _ function: @autoclosure () -> String) throws -> CodecStep {
    if code >= 0 { return .ok }
    if code == cffmpeg_averror_eagain() { return .needsInput }
    if code == cffmpeg_averror_eof() { return .endOfStream }
    throw FFmpegError(code: code, function: function())
}

/// Process-wide FFmpeg set-up: quiet FFmpeg's own logger unless asked.
public enum FFmpegLibrary {
    /// Sets FFmpeg's log level: `.quiet` in normal use, `.warning` with --verbose.
    public static func setLogLevel(verbose: Bool) {
        cffmpeg_set_log_level(verbose ? cffmpeg_log_warning() : cffmpeg_log_quiet())
        // SVT-AV1 logs through its own channel; 1 = errors only, 2 = warnings too. A user's setting wins.
        setenv("SVT_LOG", verbose ? "2" : "1", 0)
    }

    /// Readies FFmpeg's network protocols (TLS, sockets) once per process.
    public static func startNetwork() { _ = networkStarted }
    private static let networkStarted: Bool = { avformat_network_init(); return true }()

    /// Version string of the libavcodec Prism is linked against.
    public static var versionInfo: String { String(cString: av_version_info()) }
}
