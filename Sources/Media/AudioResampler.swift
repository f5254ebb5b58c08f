import CFFmpeg

/// Converts decoded audio to planar float at a fixed rate and channel count (`SwrContext`), and hands it
/// out in frames of exactly the size an encoder wants (AAC: 1024 samples).
public final class AudioResampler {
    private var context: OpaquePointer?
    private let fifo: OpaquePointer
    public let sampleRate: Int
    public let channels: Int
    private var layout = AVChannelLayout()
    private var configuredFor: (rate: Int32, format: Int32, channels: Int32)?
    /// Samples handed out so far: the pts of the next frame in 1/sampleRate units.
    public private(set) var samplesOut: Int64 = 0

    public init(sampleRate: Int, channels: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
        av_channel_layout_default(&layout, Int32(channels))
        fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, Int32(channels), 4096)
    }

    deinit {
        swr_free(&context)
        av_audio_fifo_free(fifo)
        av_channel_layout_uninit(&layout)
    }

    /// Converts a decoded frame and queues its samples.
    public func push(_ frame: Frame) throws {
        try configure(for: frame)
        let inputSamples = Int32(frame.sampleCount)
        let capacity = swr_get_out_samples(context, inputSamples)
        guard capacity > 0 else { return }
        let converted = try Frame.audio(samples: Int(capacity), sampleRate: sampleRate, layout: layout)
        let input = UnsafeMutableRawPointer(frame.pointer.pointee.extended_data!).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        let produced = swr_convert(context, converted.pointer.pointee.extended_data, capacity, input, inputSamples)
        try ffCheck(produced, "swr_convert")
        try write(converted, samples: produced)
    }

    /// The next full frame of `size` samples, or with `flush` whatever remains; nil when not enough is queued.
    /// Queues `samples` of silence, as if a silent frame had been pushed.
    public func pushSilence(samples: Int) throws {
        guard samples > 0 else { return }
        let silence = try Frame.audio(samples: samples, sampleRate: sampleRate, layout: layout)
        try ffCheck(av_samples_set_silence(silence.pointer.pointee.extended_data, 0, Int32(samples), Int32(channels), AV_SAMPLE_FMT_FLTP),
                    "av_samples_set_silence")
        try write(silence, samples: Int32(samples))
    }

    public func pull(size: Int, flush: Bool = false) throws -> Frame? {
        let available = Int(av_audio_fifo_size(fifo))
        guard available >= size || (flush && available > 0) else { return nil }
        let count = min(size, available)
        let frame = try Frame.audio(samples: count, sampleRate: sampleRate, layout: layout)
        let planes = UnsafeMutableRawPointer(frame.pointer.pointee.extended_data!).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        let read = av_audio_fifo_read(fifo, planes, Int32(count))
        try ffCheck(read, "av_audio_fifo_read")
        frame.pts = samplesOut
        samplesOut += Int64(count)
        return frame
    }

    private func write(_ frame: Frame, samples: Int32) throws {
        guard samples > 0 else { return }
        let planes = UnsafeMutableRawPointer(frame.pointer.pointee.extended_data!).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        let written = av_audio_fifo_write(fifo, planes, samples)
        try ffCheck(written, "av_audio_fifo_write")
    }

    private func configure(for frame: Frame) throws {
        let key = (frame.pointer.pointee.sample_rate, frame.pointer.pointee.format, frame.pointer.pointee.ch_layout.nb_channels)
        if let configuredFor, configuredFor == key { return }
        swr_free(&context)
        var inputLayout = frame.pointer.pointee.ch_layout
        if inputLayout.order == AV_CHANNEL_ORDER_UNSPEC {
            av_channel_layout_default(&inputLayout, inputLayout.nb_channels)
        }
        try ffCheck(swr_alloc_set_opts2(&context, &layout, AV_SAMPLE_FMT_FLTP, Int32(sampleRate),
                                         &inputLayout, frame.sampleFormat, frame.pointer.pointee.sample_rate, 0, nil),
                    "swr_alloc_set_opts2")
        try ffCheck(swr_init(context), "swr_init")
        configuredFor = key
    }
}

extension Frame {
    /// A new planar-float audio frame with its own buffers.
    static func audio(samples: Int, sampleRate: Int, layout: AVChannelLayout) throws -> Frame {
        let frame = Frame()
        frame.pointer.pointee.nb_samples = Int32(samples)
        frame.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointer.pointee.sample_rate = Int32(sampleRate)
        var source = layout
        try ffCheck(av_channel_layout_copy(&frame.pointer.pointee.ch_layout, &source), "av_channel_layout_copy")
        try ffCheck(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer(audio)")
        return frame
    }
}
