/// What `prism transcode` refuses: each maps to exit code 2 with this one line.
public enum TranscodeError: Error, CustomStringConvertible, Equatable, Sendable {
    case malformedBitrate(String)
    case malformedRung(String, reason: String)
    case emptyLadder(String)
    case unknownCodec(String)
    case unknownEncoder(String)
    case unknownPreset(String, codec: String)
    case hardwareUnavailable(family: String, codec: String, reason: String)
    case badSegmentLength(Double)
    case badWorkerCount(Int)
    case badPassCount(Int)
    case outputNotWritable(path: String, reason: String)
    case outputExists(path: String)
    case zeroDuration(path: String)
    case noAudioOrVideo(path: String)
    case badTask(String)
    case truncatedInput(path: String, decoded: Int, declared: Int?)
    case damagedInput(path: String, damaged: Int, frames: Int)
    case badLiveInput(String, reason: String)
    case badLiveOption(String)

    public var description: String {
        switch self {
        case let .malformedBitrate(text): return "malformed bitrate '\(text)': write 3000000, 3000k or 3M"
        case let .malformedRung(text, reason): return "malformed ladder rung '\(text)': \(reason) (write HEIGHTp or HEIGHTp@BITRATE, e.g. 720p@3000k)"
        case let .emptyLadder(text): return "empty ladder '\(text)'"
        case let .unknownCodec(name): return "unknown codec '\(name)': choose h264, hevc, av1 or vp9"
        case let .unknownEncoder(name): return "unknown encoder '\(name)': choose auto, software, nvenc, vaapi or qsv"
        case let .unknownPreset(name, codec): return "unknown preset '\(name)' for \(codec)"
        case let .hardwareUnavailable(family, codec, reason): return "\(family) cannot encode \(codec) on this host: \(reason)"
        case let .badSegmentLength(seconds): return "segment length \(seconds) s is out of range (0.5 to 60)"
        case let .badWorkerCount(count): return "worker count \(count) is out of range (1 to 64)"
        case let .badPassCount(count): return "--passes \(count): choose 1 or 2"
        case let .outputNotWritable(path, reason): return "cannot write output folder \(path): \(reason)"
        case let .outputExists(path): return "\(path) exists and is not an earlier Prism output; choose another folder"
        case let .zeroDuration(path): return "\(path) has no video frames to transcode (zero duration)"
        case let .badTask(reason): return "bad segment task: \(reason)"
        case let .badLiveInput(input, reason): return "bad live input '\(input)': \(reason)"
        case let .badLiveOption(reason): return reason
        case let .damagedInput(path, damaged, frames):
            return "\(path) is damaged: \(damaged) decoding errors in its \(frames) frames (FFmpeg concealed them); more than one per \(Int(1 / LadderTranscoder.damagedShareLimit)) frames fails the job rather than deliver a ladder with the damage in it"
        case let .truncatedInput(path, decoded, declared):
            let expected = declared.map { " of the \($0) it declares" } ?? ""
            return "\(path) is truncated or damaged: only \(decoded) frames\(expected) could be read"
        case let .noAudioOrVideo(path): return "\(path) has no video stream (audio-only input cannot make a video ladder)"
        }
    }
}
