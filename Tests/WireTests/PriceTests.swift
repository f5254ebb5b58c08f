import Foundation
import Testing
import Wire

/// Prices as people type them, amounts as the ledger computes them: exact, bounded, never trapping.
@Suite struct PriceTests {
    @Test(arguments: [("0.05", 50_000), ("0.05/megapixel", 50_000), ("0.05/MP", 50_000), ("0.05 credit/megapixel", 50_000),
                      ("1", 1_000_000), ("0", 0), ("0.000001", 1), ("1000", 1_000_000_000), (" 2.5 credits/megapixel ", 2_500_000)])
    func typedPricesReadExactly(_ text: String, _ micro: Int64) throws {
        #expect(try Price(parsing: text).microcreditsPerMegapixel == micro)
    }

    @Test(arguments: ["", "abc", "-1", "0.0000001", "1000.000001", "1e3", "0x10", ".5", "5.", "1.2.3", "NaN", "inf", "99999999999999999999",
                      "0.05/gigapixel", "1,5"])
    func badPricesAreRefusedWithOneLine(_ text: String) {
        #expect(throws: MessageLimitError.self) { try Price(parsing: text) }
    }

    @Test func amountsRoundDownAndNeverTrap() {
        let price = Price(microcreditsPerMegapixel: 50_000)
        #expect(price.amount(forPixels: 1_000_000) == 50_000)
        #expect(price.amount(forPixels: 19) == 0, "0.95 microcredit rounds down")
        #expect(price.amount(forPixels: -1) == nil)
        #expect(Price(microcreditsPerMegapixel: -5).amount(forPixels: 10) == nil)
        // The largest receipt (12 rungs of 8K, 100,000 frames each) at the highest price still fits.
        let pixels = Int64(12) * 7680 * 4320 * 100_000
        #expect(Price.maximum.amount(forPixels: pixels) == pixels / 1_000_000 * 1_000_000_000 + (pixels % 1_000_000) * 1_000)
        #expect(Price(microcreditsPerMegapixel: Int64.max).amount(forPixels: Int64.max) == nil)
        #expect(Price.credits(Int64.min) == "-9223372036854.775808")
        #expect(Price.credits(-1_500_000) == "-1.5" && Price.credits(42) == "0.000042" && Price.credits(12_000_000) == "12")
    }

    @Test func receiptsPayOnlyPixelsThatMultiplyOut() throws {
        func receipt(_ rungs: [RungReceipt]) -> SegmentReceipt {
            SegmentReceipt(farmer: SigningIdentity().publicIdentity, task: ContentAddress(hashing: Data("t".utf8)),
                           input: ContentAddress(hashing: Data("s".utf8)), rungs: rungs, encoder: "libx264",
                           timings: TaskTimings(decodeSeconds: 0, encodeSeconds: 0, totalSeconds: 0))
        }
        let out = ContentAddress(hashing: Data("o".utf8))
        let two = receipt([RungReceipt(height: 360, width: 640, bitrate: 800_000, output: out, frames: 50, pixels: 11_520_000),
                           RungReceipt(height: 240, width: 426, bitrate: 400_000, output: out, frames: 50, pixels: 5_112_000)])
        let expected: Int64 = 11_520_000 + 5_112_000
        #expect(two.payablePixels == expected)
        #expect(receipt([RungReceipt(height: 360, width: 640, bitrate: 800_000, output: out, frames: 50, pixels: 1)]).payablePixels == nil)
        #expect(receipt([RungReceipt(height: 360, width: 640, bitrate: 800_000, output: out, frames: -1, pixels: -640 * 360)]).payablePixels == nil)
        #expect(receipt([RungReceipt(height: 100_000, width: 640, bitrate: 800_000, output: out, frames: 1, pixels: 64_000_000)]).payablePixels == nil)
        #expect(receipt([]).payablePixels == nil)
        // Announcements from before prices existed decode as free.
        let old = #"{"encoders":["libx264"],"framesPerSecond":30,"pricePerMinute":0.5,"sessions":1,"version":"0.1.0"}"#
        #expect(try WireCoding.decode(FarmerCapabilities.self, from: Data(old.utf8)).price == .free)
    }
}
