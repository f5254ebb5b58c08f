import CFFmpeg

/// How the process's allocator treats picture-sized buffers.
public enum MemoryPolicy {
    /// Picture buffers (x264's frames, decoded and scaled pictures) go back to the system when freed. glibc's default
    /// raises its mmap threshold to the largest block freed, after which such buffers come from the heap and, with an
    /// encoder opened and closed per segment on several threads, stay resident: a 1080p 4-rung ladder peaked at
    /// 1,991 MiB, 1,564 MiB with the threshold fixed at 128 KiB (benchmarks/RESULTS.md, memory section). Call once,
    /// first thing.
    public static func returnPictureBuffersToTheSystem() {
        cffmpeg_fix_mmap_threshold(128 * 1024)
    }
}
