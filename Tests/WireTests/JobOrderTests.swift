import Foundation
import Testing
import Wire

/// What a farmer checks in a job order before it looks at a blob: plain and confidential orders each carry only what
/// their mode uses, and every name, number and address a submitter sends is bounded.
@Suite struct JobOrderTests {
    let image = ContentAddress(hashing: Data("image".utf8))
    var guest: JobGuest {
        JobGuest(firmware: ContentAddress(hashing: Data("ovmf".utf8)), kernel: ContentAddress(hashing: Data("kernel".utf8)),
                 initrd: ContentAddress(hashing: Data("initrd".utf8)), append: "console=ttyS0 prism.job=j", broker: "broker.example:8790")
    }

    @Test func confidentialOrdersNameTheirGuestAndNothingOfAPlainJob() throws {
        let order = JobOrder(mode: "confidential", image: image, command: [], guest: guest)
        try order.validate()
        #expect(order.blobs == [image] + guest.blobs)
        #expect(guest.brokerEndpoint! == ("broker.example", 8790))
        #expect(JobGuest(firmware: image, kernel: image, initrd: image, append: "", broker: "[::1]:80").brokerEndpoint! == ("::1", 80))

        var refusals: [(JobOrder, String)] = []
        refusals.append((JobOrder(mode: "confidential", image: image, command: []), "names its guest"))
        refusals.append((JobOrder(mode: "confidential", image: image, command: ["/bin/sh"], guest: guest), "carries no command"))
        refusals.append((JobOrder(mode: "confidential", image: image, command: [], inputs: [JobFile(name: "a", content: image, bytes: 1)], guest: guest),
                         "carries no command"))
        refusals.append((JobOrder(mode: "plain", image: image, command: ["/bin/true"], guest: guest), "only confidential orders"))
        var long = guest
        long.append = String(repeating: "a", count: 5000)
        refusals.append((JobOrder(mode: "confidential", image: image, command: [], guest: long), "4096 bytes"))
        for broker in ["a;rm -rf /:80", "host:0", "host:70000", "-oProxyCommand=x:22", "host", ":80", "ho st:80", String(repeating: "h", count: 300) + ":1", "hôst:80"] {
            var bad = guest
            bad.broker = broker
            #expect(bad.brokerEndpoint == nil, "\(broker)")
            refusals.append((JobOrder(mode: "confidential", image: image, command: [], guest: bad), "HOST:PORT"))
        }
        for (order, text) in refusals {
            #expect(throws: MessageLimitError.self) { try order.validate() }
            do { try order.validate() } catch { #expect("\(error)".contains(text), "\(error)") }
        }
    }

    @Test func aPlainOrderEncodesAsBeforeConfidentialJobsExisted() throws {
        let order = JobOrder(image: image, command: ["/bin/true"])
        let text = String(decoding: try WireCoding.canonicalBytes(order), as: UTF8.self)
        #expect(!text.contains("guest"), "\(text)")
        let offer = JobOffer(modes: ["plain"], limits: .init(), unavailable: ["confidential": "/dev/sev absent"])
        #expect(offer.whyNot("confidential") == "/dev/sev absent")
        #expect(offer.whyNot("plain") == nil)
    }
}
