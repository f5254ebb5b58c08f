import Foundation

/// `prism verify --report`: one self-contained HTML page (inline CSS and SVG, the frame as a data-URI
/// bitmap) with the verdict, per-frame PSNR and SSIM, and a heatmap of where the rendition departs from
/// the source.
public enum VerificationReportPage {
    public static func html(result: VerificationResult, data: VerificationReportData?, source: String, rendition: String) -> String {
        let accepted = result.accepted
        var page = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>prism verify: \(escape(result.verdict.rawValue))</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
        h1{font-size:22px;margin:0 0 4px}.verdict{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;
        background:\(accepted ? "#2e7d32" : "#c62828");font-weight:600}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th{background:#f4f4f4}td.l,th.l{text-align:left}code{background:#f4f4f4;padding:1px 4px}
        .grid{display:flex;flex-wrap:wrap;gap:24px}figure{margin:0}.muted{color:#666}
        </style></head><body>
        <h1>prism verify <span class="verdict">\(escape(result.verdict.rawValue.uppercased()))</span></h1>
        <p class="muted">source <code>\(escape(source))</code><br>rendition <code>\(escape(rendition))</code></p>
        """
        page += "<h2>Reasons</h2>"
        if result.reasons.isEmpty {
            page += "<p>No check failed.</p>"
        } else {
            page += "<table><tr><th class=l>code</th><th class=l>what was found</th></tr>"
            for reason in result.reasons { page += "<tr><td class=l><code>\(escape(reason.code.rawValue))</code></td><td class=l>\(escape(reason.message))</td></tr>" }
            page += "</table>"
        }
        page += "<h2>Frames and structure</h2><table>"
        let s = result.structure
        let rows: [(String, String)] = [
            ("frames source / rendition / compared", "\(result.frames.source) / \(result.frames.rendition) / \(result.frames.compared)"),
            ("codec", s.codec), ("size", "\(s.width)x\(s.height)"), ("video bitrate", "\(s.bitrate / 1000) kbit/s"),
            ("duration rendition / source", String(format: "%.3f s / %.3f s", s.durationSeconds, s.sourceDurationSeconds)),
            ("keyframe at start", s.startsWithKeyframe ? "yes" : "no"), ("decode errors", "\(s.decodeErrors)"),
            ("fingerprint", result.fingerprint),
        ]
        for (name, value) in rows { page += "<tr><th class=l>\(escape(name))</th><td class=l>\(escape(value))</td></tr>" }
        page += "</table>"
        if let metrics = result.metrics {
            page += "<table><tr><th></th><th>Y</th><th>U</th><th>V</th><th>average / all</th></tr>"
            page += String(format: "<tr><th class=l>PSNR dB</th><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>", metrics.psnr.y, metrics.psnr.u, metrics.psnr.v, metrics.psnr.average)
            page += String(format: "<tr><th class=l>SSIM</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr></table>", metrics.ssim.y, metrics.ssim.u, metrics.ssim.v, metrics.ssim.all)
        }
        if let floor = result.qualityFloor {
            page += String(format: "<p>Quality floor: rendition luma PSNR %.2f dB, the verifier's own %@ encode at %d kbit/s %.2f dB; fine detail kept %.0f%% vs %.0f%%.</p>",
                           floor.renditionPsnrY, escape(floor.referenceEncoder), floor.bitrate / 1000, floor.referencePsnrY, floor.renditionDetail * 100, floor.referenceDetail * 100)
        }
        if let cost = result.keyframeCost {
            page += String(format: "<p>First keyframe (%d bytes of slices): rendition %.2f dB; libx264 with the rendition's own settings on the clean source (%@ scaling%@) at that size %.2f dB.</p>",
                           cost.bytes, cost.renditionPsnrY, escape(cost.scaler), cost.lookaheadFrames > 0 ? ", \(cost.lookaheadFrames) frames of lookahead" : "", cost.referencePsnrY)
        }
        page += "<div class=grid>"
        page += plot(title: "Luma PSNR per compared frame (dB)", samples: result.samples, value: { $0.psnrY }, format: "%.1f")
        page += plot(title: "Luma SSIM per compared frame", samples: result.samples, value: { $0.ssimY }, format: "%.3f")
        page += "</div>"
        if let data {
            page += "<h2>Where the rendition departs from the source</h2>"
            page += "<p class=muted>Each block's error over what encoding typically leaves in similar texture, averaged over the compared frames (red: far above; outlined: flagged regions).</p>"
            page += heatmap(data: data, width: s.width, height: s.height, regions: result.regions)
        }
        page += "<h2>Compared frames</h2><table><tr><th>rendition frame</th><th>source frame</th><th>time s</th><th>PSNR Y</th><th>SSIM Y</th><th>hash distance</th><th>best offset</th><th>chosen</th></tr>"
        for sample in result.samples {
            page += String(format: "<tr><td>%d</td><td>%d</td><td>%.3f</td><td>%.2f</td><td>%.4f</td><td>%d</td><td>%d</td><td>%@</td></tr>",
                           sample.rendition, sample.source, sample.time, sample.psnrY, sample.ssimY, sample.hashDistance, sample.bestOffset,
                           sample.suspect ? "packet size" : "random")
        }
        page += "</table></body></html>\n"
        return page
    }

    static func plot(title: String, samples: [VerificationResult.Sample], value: (VerificationResult.Sample) -> Double, format: String) -> String {
        let width = 480.0, height = 200.0, margin = 36.0
        let points = samples.map { ($0.time, value($0)) }.filter { $0.1.isFinite }
        var svg = "<figure><figcaption>\(escape(title))</figcaption><svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' style='background:#fafafa;border:1px solid #ddd'>"
        guard let minT = points.map(\.0).min(), let maxT = points.map(\.0).max(), let minV = points.map(\.1).min(), let maxV = points.map(\.1).max() else {
            return svg + "</svg></figure>"
        }
        let spanT = max(maxT - minT, 1e-3), spanV = max(maxV - minV, 1e-3)
        func x(_ t: Double) -> Double { margin + (t - minT) / spanT * (width - 2 * margin) }
        func y(_ v: Double) -> Double { height - margin - (v - minV) / spanV * (height - 2 * margin) }
        svg += "<line x1='\(margin)' y1='\(height - margin)' x2='\(width - margin)' y2='\(height - margin)' stroke='#999'/>"
        svg += "<text x='2' y='\(y(maxV) + 4)' font-size='10'>\(String(format: format, maxV))</text><text x='2' y='\(y(minV) + 4)' font-size='10'>\(String(format: format, minV))</text>"
        svg += String(format: "<text x='%.0f' y='%.0f' font-size='10'>%.2f s</text><text x='%.0f' y='%.0f' font-size='10'>%.2f s</text>", margin, height - 20, minT, width - margin - 30, height - 20, maxT)
        svg += "<polyline fill='none' stroke='#1565c0' stroke-width='1.5' points='" + points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ") + "'/>"
        for point in points { svg += String(format: "<circle cx='%.1f' cy='%.1f' r='3' fill='#1565c0'/>", x(point.0), y(point.1)) }
        return svg + "</svg></figure>"
    }

    static func heatmap(data: VerificationReportData, width: Int, height: Int, regions: [RegionFinding]) -> String {
        let display = min(960, width * 2)
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 \(width) \(height)' width='\(display)' style='border:1px solid #ccc'>"
        svg += "<image href='data:image/bmp;base64,\(GrayBitmap.bmp(data.thumbnail).base64EncodedString())' x='0' y='0' width='\(width)' height='\(height)' preserveAspectRatio='none'/>"
        for row in 0..<data.rows {
            for column in 0..<data.columns {
                let value = data.excess[row * data.columns + column]
                // Up to 2× the typical error is clear (honest coding varies that much); 10× and above is strong red.
                let scale = log2(Double(VerdictThresholds.excessErrorFlag)) - 1
                let opacity = min(0.85, max(0, (Double(log2(max(value, 1))) - 1) / scale * 0.85))
                guard opacity > 0.05 else { continue }
                svg += String(format: "<rect x='%d' y='%d' width='%d' height='%d' fill='#ff1744' fill-opacity='%.2f'/>",
                              column * data.blockSize, row * data.blockSize, data.blockSize, data.blockSize, opacity)
            }
        }
        for region in regions {
            svg += "<rect x='\(region.x)' y='\(region.y)' width='\(region.w)' height='\(region.h)' fill='none' stroke='#ffeb3b' stroke-width='\(max(2, width / 320))'><title>\(escape(region.code))</title></rect>"
        }
        return svg + "</svg>"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// An 8-bit greyscale Windows bitmap (the simplest picture format every browser shows from a data URI).
enum GrayBitmap {
    static func bmp(_ plane: PlaneImage) -> Data {
        let rowBytes = (plane.width + 3) & ~3
        let paletteBytes = 256 * 4
        let offset = 14 + 40 + paletteBytes
        let size = offset + rowBytes * plane.height
        var data = Data(capacity: size)
        func u16(_ v: Int) { data.append(contentsOf: [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)]) }
        func u32(_ v: Int) { data.append(contentsOf: (0..<4).map { UInt8(v >> (8 * $0) & 0xff) }) }
        data.append(contentsOf: Array("BM".utf8)); u32(size); u32(0); u32(offset)
        u32(40); u32(plane.width); u32(plane.height); u16(1); u16(8); u32(0); u32(rowBytes * plane.height); u32(2835); u32(2835); u32(256); u32(0)
        for level in 0..<256 { data.append(contentsOf: [UInt8(level), UInt8(level), UInt8(level), 0]) }
        let padding = [UInt8](repeating: 0, count: rowBytes - plane.width)
        for y in stride(from: plane.height - 1, through: 0, by: -1) {
            data.append(contentsOf: plane.pixels[(y * plane.width)..<((y + 1) * plane.width)])
            data.append(contentsOf: padding)
        }
        return data
    }
}
