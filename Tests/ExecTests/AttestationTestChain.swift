import Crypto
import _CryptoExtras
import Exec
import Foundation
import SwiftASN1

/// A test-only AMD look-alike: an RSA "ARK" and "ASK" and a P-384 "VCEK", as minimal DER certificates built with
/// SwiftASN1 and signed RSASSA-PSS SHA-384 like AMD's, plus the pin that makes a verifier trust the ARK.
struct TestAMDChain {
    let product: AMDProduct
    let arkKey: _RSA.Signing.PrivateKey
    let askKey: _RSA.Signing.PrivateKey
    let vcekKey = P384.Signing.PrivateKey()
    let ark: AMDCertificate
    let ask: AMDCertificate
    let vcek: AMDCertificate
    let tcb: TCBVersion
    let hardwareID: [UInt8]

    /// The pins a verifier needs to trust this chain's ARK.
    var anchors: TrustAnchors { TrustAnchors(pinnedARKs: [product: ark.sha256Fingerprint]) }
    var chain: CertificateChain { CertificateChain(leaf: vcek, intermediate: ask, root: ark) }

    init(product: AMDProduct, tcb: TCBVersion, hardwareID: [UInt8], wrapHardwareID: Bool, saltLength: Int = 48) throws {
        self.product = product
        self.tcb = tcb
        self.hardwareID = hardwareID
        arkKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        askKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = product.rawValue
        ark = try AMDCertificate(der: Self.certificate(issuer: "ARK-\(name)", subject: "ARK-\(name)",
                                                       spki: Array(arkKey.publicKey.derRepresentation), extensions: [], signer: arkKey))
        ask = try AMDCertificate(der: Self.certificate(issuer: "ARK-\(name)", subject: "SEV-\(name)",
                                                       spki: Array(askKey.publicKey.derRepresentation), extensions: [], signer: arkKey))
        var extensions: [([UInt], [UInt8])] = [
            ([1, 3, 6, 1, 4, 1, 3704, 1, 3, 1], try Self.integer(Int(tcb.bootloader))),
            ([1, 3, 6, 1, 4, 1, 3704, 1, 3, 2], try Self.integer(Int(tcb.tee))),
            ([1, 3, 6, 1, 4, 1, 3704, 1, 3, 3], try Self.integer(Int(tcb.snp))),
            ([1, 3, 6, 1, 4, 1, 3704, 1, 3, 8], try Self.integer(Int(tcb.microcode))),
            ([1, 3, 6, 1, 4, 1, 3704, 1, 4], wrapHardwareID ? [0x04, UInt8(hardwareID.count)] + hardwareID : hardwareID),
        ]
        if let fmc = tcb.fmc { extensions.append(([1, 3, 6, 1, 4, 1, 3704, 1, 3, 9], try Self.integer(Int(fmc)))) }
        vcek = try AMDCertificate(der: Self.certificate(issuer: "SEV-\(name)", subject: "SEV-VCEK",
                                                        spki: Array(vcekKey.publicKey.derRepresentation), extensions: extensions,
                                                        signer: askKey, saltLength: saltLength))
    }

    static func integer(_ value: Int) throws -> [UInt8] {
        var s = DER.Serializer()
        try s.serialize(value)
        return s.serializedBytes
    }

    /// A v3 certificate: serial 0, 2024–2034 validity, the given key and extensions, signed by `signer`.
    static func certificate(issuer: String, subject: String, spki: [UInt8], extensions: [([UInt], [UInt8])],
                            signer: _RSA.Signing.PrivateKey, saltLength: Int = 48) throws -> [UInt8] {
        func algorithm(_ s: inout DER.Serializer) throws {
            try s.appendConstructedNode(identifier: .sequence) { s in
                try s.serialize(ASN1ObjectIdentifier(elements: [1, 2, 840, 113549, 1, 1, 10]))
                try s.appendConstructedNode(identifier: .sequence) { s in
                    try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { s in
                        try s.appendConstructedNode(identifier: .sequence) { try $0.serialize(ASN1ObjectIdentifier(elements: [2, 16, 840, 1, 101, 3, 4, 2, 2])) }
                    }
                    try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)) { s in
                        try s.appendConstructedNode(identifier: .sequence) { s in
                            try s.serialize(ASN1ObjectIdentifier(elements: [1, 2, 840, 113549, 1, 1, 8]))
                            try s.appendConstructedNode(identifier: .sequence) { try $0.serialize(ASN1ObjectIdentifier(elements: [2, 16, 840, 1, 101, 3, 4, 2, 2])) }
                        }
                    }
                    try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)) { try $0.serialize(saltLength) }
                }
            }
        }
        func name(_ s: inout DER.Serializer, _ cn: String) throws {
            try s.appendConstructedNode(identifier: .sequence) { s in
                try s.appendConstructedNode(identifier: .set) { s in
                    try s.appendConstructedNode(identifier: .sequence) { s in
                        try s.serialize(ASN1ObjectIdentifier(elements: [2, 5, 4, 3]))
                        try s.serialize(ASN1UTF8String(cn))
                    }
                }
            }
        }
        var t = DER.Serializer()
        try t.appendConstructedNode(identifier: .sequence) { s in
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { try $0.serialize(2) }
            try s.serialize(0)
            try algorithm(&s)
            try name(&s, issuer)
            try s.appendConstructedNode(identifier: .sequence) { s in
                try s.serialize(UTCTime(year: 2024, month: 1, day: 1, hours: 0, minutes: 0, seconds: 0))
                try s.serialize(UTCTime(year: 2034, month: 1, day: 1, hours: 0, minutes: 0, seconds: 0))
            }
            try name(&s, subject)
            s.serializeRawBytes(spki)
            if !extensions.isEmpty {
                try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific)) { s in
                    try s.appendConstructedNode(identifier: .sequence) { s in
                        for (oid, value) in extensions {
                            try s.appendConstructedNode(identifier: .sequence) { s in
                                try s.serialize(ASN1ObjectIdentifier(elements: oid))
                                try s.serialize(ASN1OctetString(contentBytes: ArraySlice(value)))
                            }
                        }
                    }
                }
            }
        }
        let tbs = t.serializedBytes
        let signature = try signer.signature(for: SHA384.hash(data: tbs), padding: .PSS)
        var c = DER.Serializer()
        try c.appendConstructedNode(identifier: .sequence) { s in
            s.serializeRawBytes(tbs)
            try algorithm(&s)
            try s.serialize(ASN1BitString(bytes: ArraySlice(signature.rawRepresentation)))
        }
        return c.serializedBytes
    }
}
