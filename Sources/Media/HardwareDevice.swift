import CFFmpeg

/// An opened hardware device (`AVHWDeviceContext`): CUDA for NVENC/NVDEC, VAAPI, QSV.
public final class HardwareDevice: @unchecked Sendable {  // unchecked: an FFmpeg device reference, thread-safe in FFmpeg
    let reference: UnsafeMutablePointer<AVBufferRef>
    let type: AVHWDeviceType
    public let typeName: String

    /// Opens a device of the named type (`cuda`, `vaapi`, `qsv`); `device` picks a node such as
    /// /dev/dri/renderD128. Throws `MediaError.deviceUnavailable` with FFmpeg's reason when none opens.
    public init(typeName: String, device: String? = nil) throws {
        let type = av_hwdevice_find_type_by_name(typeName)
        guard type != AV_HWDEVICE_TYPE_NONE else {
            throw MediaError.deviceUnavailable(type: typeName, reason: "FFmpeg was built without \(typeName) support")
        }
        var reference: UnsafeMutablePointer<AVBufferRef>?
        let status = av_hwdevice_ctx_create(&reference, type, device, nil, 0)
        guard status >= 0, let reference else {
            throw MediaError.deviceUnavailable(type: typeName, reason: "none opens (\(FFmpegError.text(for: status)))")
        }
        self.reference = reference
        self.type = type
        self.typeName = typeName
    }

    deinit {
        var owned: UnsafeMutablePointer<AVBufferRef>? = reference
        av_buffer_unref(&owned)
    }

    /// A pool of GPU frames of one geometry on this device, for encoders that take only GPU frames.
    public func makeFramesContext(width: Int, height: Int, softwareFormat: PixelFormat, hardwareFormat: PixelFormat, poolSize: Int = 16) throws -> HardwareFramesContext {
        guard let frames = av_hwframe_ctx_alloc(reference) else { fatalError("av_hwframe_ctx_alloc: out of memory") }
        let context = UnsafeMutableRawPointer(frames.pointee.data).assumingMemoryBound(to: AVHWFramesContext.self)
        context.pointee.format = hardwareFormat.av
        context.pointee.sw_format = softwareFormat.av
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.initial_pool_size = Int32(poolSize)
        let owner = HardwareFramesContext(reference: frames)
        try ffCheck(av_hwframe_ctx_init(frames), "av_hwframe_ctx_init(\(typeName))")
        return owner
    }
}

/// An owned `AVHWFramesContext` reference.
public final class HardwareFramesContext: @unchecked Sendable {  // unchecked: an FFmpeg frames-pool reference, thread-safe in FFmpeg
    let reference: UnsafeMutablePointer<AVBufferRef>

    init(reference: UnsafeMutablePointer<AVBufferRef>) { self.reference = reference }

    deinit {
        var owned: UnsafeMutablePointer<AVBufferRef>? = reference
        av_buffer_unref(&owned)
    }

    /// Copies a software frame into a new GPU frame from this pool.
    public func upload(_ frame: Frame) throws -> Frame {
        let gpu = Frame()
        try ffCheck(av_hwframe_get_buffer(reference, gpu.pointer, 0), "av_hwframe_get_buffer")
        try ffCheck(av_hwframe_transfer_data(gpu.pointer, frame.pointer, 0), "av_hwframe_transfer_data")
        gpu.pts = frame.pts
        gpu.duration = frame.duration
        return gpu
    }
}
