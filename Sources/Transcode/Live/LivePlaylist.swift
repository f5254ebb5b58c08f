import Foundation

/// Live HLS media playlists (RFC 8216): a sliding window of the latest segments with EXT-X-MEDIA-SEQUENCE, or every
/// segment as an EVENT playlist; EXT-X-ENDLIST once the input has ended.
enum LivePlaylist {
    struct Entry: Equatable {
        /// The segment's number: its media sequence number, and its file's number.
        let index: Int
        let file: String
        let durationSeconds: Double
        /// The first segment after the input broke or changed (a reconnect, a timestamp jump, a new resolution).
        let discontinuity: Bool
        /// No verified rendition came in time: a gap the player skips (its file does not exist).
        let gap: Bool
        /// fMP4: the initialization section its period's segments need.
        let map: String?
    }

    /// The playlist of `entries` (all published so far, oldest first), showing the last `window` (0: all, EVENT).
    static func media(entries: [Entry], window: Int, targetSeconds: Int, version: Int, ended: Bool) -> String {
        let shown = window > 0 ? Array(entries.suffix(window)) : entries
        let hidden = entries.count - shown.count
        // The first shown segment's discontinuity number: every discontinuity up to and including it (its own tag is
        // then left out, as the count already holds it).
        let discontinuitiesBefore = entries.prefix(hidden + (shown.isEmpty ? 0 : 1)).filter(\.discontinuity).count
        var lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:\(version)",
            "#EXT-X-TARGETDURATION:\(max(targetSeconds, 1))",
            "#EXT-X-MEDIA-SEQUENCE:\(shown.first?.index ?? 0)",
            "#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuitiesBefore)",
        ]
        if window == 0 { lines.append("#EXT-X-PLAYLIST-TYPE:EVENT") }
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        var map: String?
        for (position, entry) in shown.enumerated() {
            if entry.discontinuity && position > 0 { lines.append("#EXT-X-DISCONTINUITY") }
            if let wanted = entry.map, wanted != map {
                lines.append("#EXT-X-MAP:URI=\"\(wanted)\"")
                map = wanted
            }
            if entry.gap { lines.append("#EXT-X-GAP") }
            lines.append(String(format: "#EXTINF:%.6f,", entry.durationSeconds))
            lines.append(entry.file)
        }
        if ended { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `text` to `url` in one step (a temporary file renamed over it): a player never reads half a playlist.
    static func replace(_ url: URL, with text: String) throws {
        let scratch = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8))")
        try Data(text.utf8).write(to: scratch)
        guard rename(scratch.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: scratch)
            throw TranscodeError.outputNotWritable(path: url.path, reason: reason)
        }
    }
}
