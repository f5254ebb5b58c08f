import CFFmpeg
import Foundation

/// An owned `AVFrame`; freed when the last Swift reference goes. Decoded frames are reference counted by
/// FFmpeg, so `reference()` shares the pixel buffers instead of copying them.
public final class Frame: @unchecked Sendable {  // unchecked: FFmpeg reference counts the pictures; a frame is handed between threads, never used by two at once
    let pointer: UnsafeMutablePointer<AVFrame>

    public init() {
        guard let frame = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        pointer = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }

    /// A new video frame with its own buffers.
    public static func video(width: Int, height: Int, format: PixelFormat) throws -> Frame {
        let frame = Frame()
        frame.pointer.pointee.width = Int32(width)
        frame.pointer.pointee.height = Int32(height)
        frame.pointer.pointee.format = format.raw
        try ffCheck(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer")
        return frame
    }

    /// Another owner of the same buffers (`av_frame_ref`).
    public func reference() throws -> Frame {
        let copy = Frame()
        try ffCheck(av_frame_ref(copy.pointer, pointer), "av_frame_ref")
        return copy
    }

    /// A copy with buffers of its own, timestamps kept: decoders keep references to their output, so theirs may not
    /// be written.
    public func writableCopy() throws -> Frame {
        let copy = try Frame.video(width: width, height: height, format: pixelFormat)
        try ffCheck(av_frame_copy(copy.pointer, pointer), "av_frame_copy")
        copy.pts = pts
        copy.duration = duration
        return copy
    }

    /// Asks the encoder this picture is given to for a keyframe (true), or leaves the picture type to it (false).
    public func requestKeyframe(_ keyframe: Bool) {
        pointer.pointee.pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
    }

    /// Lets go of the buffers this frame refers to, so it can be filled again.
    public func release() {
        av_frame_unref(pointer)
    }

    public var width: Int { Int(pointer.pointee.width) }
    public var height: Int { Int(pointer.pointee.height) }
    public var pixelFormat: PixelFormat { PixelFormat(raw: pointer.pointee.format) }
    /// The shape of one stored pixel as the decoder found it (0/1 when unknown).
    public var sampleAspectRatio: Rational { Rational(pointer.pointee.sample_aspect_ratio) }
    var sampleFormat: AVSampleFormat { AVSampleFormat(rawValue: pointer.pointee.format) }
    public var sampleCount: Int { Int(pointer.pointee.nb_samples) }
    public var isKeyFrame: Bool { cffmpeg_frame_is_key(pointer) != 0 }
    var pictureType: AVPictureType { pointer.pointee.pict_type }

    /// Presentation timestamp in the producer's time base, nil when unknown.
    public var pts: Int64? {
        get { pointer.pointee.pts == cffmpeg_nopts_value() ? nil : pointer.pointee.pts }
        set { pointer.pointee.pts = newValue ?? cffmpeg_nopts_value() }
    }

    /// The decoder's best guess at the presentation time, nil when unknown.
    public var bestEffortTimestamp: Int64? {
        let value = pointer.pointee.best_effort_timestamp
        return value == cffmpeg_nopts_value() ? nil : value
    }

    public var duration: Int64 {
        get { cffmpeg_frame_duration(pointer) }
        set { cffmpeg_frame_set_duration(pointer, newValue) }
    }

    /// Bytes of one row of plane `index` (may exceed the visible width).
    public func lineSize(_ index: Int) -> Int {
        withUnsafeBytes(of: pointer.pointee.linesize) { $0.load(fromByteOffset: index * MemoryLayout<Int32>.stride, as: Int32.self) }.int
    }

    /// The first byte of plane `index`, valid while this frame lives.
    public func planeBase(_ index: Int) -> UnsafeMutablePointer<UInt8>? {
        withUnsafeBytes(of: pointer.pointee.data) {
            $0.load(fromByteOffset: index * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                    as: UnsafeMutablePointer<UInt8>?.self)
        }
    }

    /// Approximate bytes held by this frame's visible pictures (for memory bounds).
    public var approximateBytes: Int {
        guard let descriptor = av_pix_fmt_desc_get(pixelFormat.av) else { return width * height * 3 }
        let bitsPerPixel = Int(av_get_bits_per_pixel(descriptor))
        return width * height * max(bitsPerPixel, 8) / 8
    }
}

extension Int32 {
    var int: Int { Int(self) }
}

/// An owned `AVPacket`.
public final class Packet: @unchecked Sendable {  // unchecked: FFmpeg reference counts the data; a packet is handed between threads, never used by two at once
    let pointer: UnsafeMutablePointer<AVPacket>

    public init() {
        guard let packet = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        pointer = packet
    }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&packet)
    }

    /// Another owner of the same payload (`av_packet_ref`).
    public func reference() throws -> Packet {
        let copy = Packet()
        try ffCheck(av_packet_ref(copy.pointer, pointer), "av_packet_ref")
        return copy
    }

    public var streamIndex: Int { Int(pointer.pointee.stream_index) }
    public var size: Int { Int(pointer.pointee.size) }
    public var isKeyFrame: Bool { cffmpeg_packet_is_key(pointer) != 0 }

    public var pts: Int64? {
        get { pointer.pointee.pts == cffmpeg_nopts_value() ? nil : pointer.pointee.pts }
        set { pointer.pointee.pts = newValue ?? cffmpeg_nopts_value() }
    }

    public var dts: Int64? {
        get { pointer.pointee.dts == cffmpeg_nopts_value() ? nil : pointer.pointee.dts }
        set { pointer.pointee.dts = newValue ?? cffmpeg_nopts_value() }
    }

    public var duration: Int64 {
        get { pointer.pointee.duration }
        set { pointer.pointee.duration = newValue }
    }

    /// The payload bytes, valid while this packet lives.
    public var data: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pointer.pointee.data, count: size)
    }

    /// Rescales pts, dts and duration between time bases.
    public func rescale(from source: Rational, to destination: Rational) {
        av_packet_rescale_ts(pointer, source.av, destination.av)
    }

    public func unref() { av_packet_unref(pointer) }
}

extension Frame {
    /// Paints a YUV frame black (limited-range luma 16, chroma 128), for probes and tests.
    public func fillBlack() throws {
        guard let descriptor = av_pix_fmt_desc_get(pixelFormat.av) else { return }
        let chromaHeight = -((-height) >> Int(descriptor.pointee.log2_chroma_h))
        for plane in 0..<4 {
            guard let base = planeBase(plane) else { continue }
            let rows = plane == 0 ? height : chromaHeight
            memset(base, plane == 0 ? 16 : 128, lineSize(plane) * rows)
        }
    }
}

extension Frame {
    /// A frame that shares this one's pixels, restricted to a rectangle (even x, y for 4:2:0).
    public func window(x: Int, y: Int, width: Int, height: Int) throws -> Frame {
        let view = try reference()
        view.pointer.pointee.width = Int32(width)
        view.pointer.pointee.height = Int32(height)
        view.pointer.pointee.data.0 = planeBase(0)! + y * lineSize(0) + x
        view.pointer.pointee.data.1 = planeBase(1)! + (y / 2) * lineSize(1) + x / 2
        view.pointer.pointee.data.2 = planeBase(2)! + (y / 2) * lineSize(2) + x / 2
        return view
    }
}
