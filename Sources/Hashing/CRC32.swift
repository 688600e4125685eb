internal import CLibdeflate
import Foundation

/// CRC-32 (IEEE, as zip and S3's `x-amz-checksum-crc32` use it), computed by libdeflate.
public enum CRC32 {
    /// The CRC of `bytes`; pass the CRC of what came before as `continuing` to checksum in pieces.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        UInt32(libdeflate_crc32(previous, bytes.baseAddress, bytes.count))
    }

    /// The 4 bytes of `value`, big-endian, in Base64: how S3 writes a CRC-32 (`x-amz-checksum-crc32`).
    public static func base64(_ value: UInt32) -> String {
        let bytes: [UInt8] = [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        return Data(bytes).base64EncodedString()
    }
}
