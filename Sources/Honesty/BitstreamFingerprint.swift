import Foundation
import Media

/// Which encoder made a bitstream, from the marks encoders leave in it (not from what anyone says).
///
/// - x264 writes an H.264 SEI "user data unregistered" message holding `x264 - core N … options: …`.
/// - x265 writes the same kind of SEI in HEVC holding `x265 (build N) - …`.
/// - SVT-AV1 and libvpx write no text; SVT-AV1's sequence header and libvpx's VP9 frames are told apart
///   by codec only.
/// - NVENC writes no SEI text by default; an H.264/HEVC stream with no x264/x265 SEI is therefore
///   "not x264/x265", which is all a CPU-only host can assert about it (learning NVENC's own marks needs a GPU
///   with NVENC, which the data-centre H100/H200 lack).
public enum BitstreamFingerprint {
    public struct Identification: Codable, Sendable, Equatable {
        /// `libx264`, `libx265`, or nil when no software encoder's mark was found.
        public var encoder: String?
        /// The version string found, e.g. `x264 - core 164`.
        public var evidence: String?
    }

    /// Scans an elementary stream or container file's bytes for encoder marks (`EncoderMark`).
    public static func identify(_ data: Data) -> Identification {
        guard let found = data.withUnsafeBytes({ EncoderMark.identify($0) }) else { return Identification(encoder: nil, evidence: nil) }
        return Identification(encoder: found.encoder, evidence: found.evidence)
    }

    /// Whether what was found contradicts the encoder a farmer named.
    public static func contradicts(_ found: Identification, named: String) -> Bool {
        guard let encoder = found.encoder else {
            // No software mark: consistent with a hardware encoder or a software one that writes none.
            return named == "libx264" || named == "libx265"
        }
        return encoder != named
    }
}
