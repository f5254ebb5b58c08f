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

    /// Picture buffers stay in the heap when freed, for the next one. Verification holds a few pictures at a time
    /// but allocates and frees them (decoder pools opened per rendition, planes and filtered copies per sample) all
    /// the time; mapped and returned, every one comes back as fresh zeroed pages: 258,000 page faults and a sixth of
    /// a submit's CPU time in a 9-rendition job (`perf record -e page-faults`: 75 % of them in memset of new
    /// buffers). Call once, first thing, in processes that verify rather than encode.
    public static func reusePictureBuffers() {
        cffmpeg_fix_mmap_threshold(32 * 1024 * 1024)
        cffmpeg_fix_trim_threshold(512 * 1024 * 1024)
    }
}
