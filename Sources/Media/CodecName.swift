/// The one map from the names a codec goes by — as users write it, FFmpeg's codec and encoder names, and the
/// sample-entry FourCCs of MP4 — onto FFmpeg's codec name (`h264`, `hevc`, `av1`, `vp9`).
public enum CodecName {
    /// FFmpeg's codec name for `name`; names this map does not know come back lowercased, as they are.
    public static func canonical(_ name: String) -> String {
        switch name.lowercased() {
        case "h264", "avc", "avc1", "x264", "libx264", "h264_nvenc", "h264_vaapi", "h264_qsv": return "h264"
        case "hevc", "h265", "x265", "libx265", "hvc1", "hev1", "hevc_nvenc", "hevc_vaapi", "hevc_qsv": return "hevc"
        case "av1", "av01", "libsvtav1", "libaom-av1", "svt-av1", "libdav1d", "av1_nvenc", "av1_vaapi", "av1_qsv": return "av1"
        case "vp9", "vp09", "libvpx-vp9", "vp9_vaapi", "vp9_qsv": return "vp9"
        default: return name.lowercased()
        }
    }
}
