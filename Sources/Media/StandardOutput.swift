import CFFmpeg

/// The process's C standard output, which `print` writes through (Swift 6 cannot name C's global `stdout` from
/// concurrent code; the shim does).
public enum StandardOutput {
    /// Line-buffered: a pipe (a script reading `--json` lines) sees each line as it is printed. Call once, first thing.
    public static func lineBuffered() { cffmpeg_stdout_line_buffered() }

    /// Writes out what `print` has buffered.
    public static func flush() { cffmpeg_stdout_flush() }
}
