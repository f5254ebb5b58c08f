import Media
import Testing

/// The one codec-name map: what users, FFmpeg and MP4 sample entries call a codec.
@Suite struct CodecNameTests {
    @Test func everyNameACodecGoesByMapsOntoFFmpegsCodecName() {
        for name in ["h264", "AVC", "avc1", "x264", "libx264", "h264_nvenc"] { #expect(CodecName.canonical(name) == "h264", "\(name)") }
        for name in ["hevc", "H265", "x265", "libx265", "hvc1", "hev1", "hevc_nvenc"] { #expect(CodecName.canonical(name) == "hevc", "\(name)") }
        for name in ["av1", "av01", "libsvtav1", "libaom-av1", "libdav1d"] { #expect(CodecName.canonical(name) == "av1", "\(name)") }
        for name in ["vp9", "vp09", "libvpx-vp9"] { #expect(CodecName.canonical(name) == "vp9", "\(name)") }
        #expect(CodecName.canonical("MPEG2VIDEO") == "mpeg2video", "unknown names pass through, lowercased")
    }
}
