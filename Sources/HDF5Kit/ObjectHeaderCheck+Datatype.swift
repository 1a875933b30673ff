/// The datatype part of `ObjectHeaderCheck`: an encoded datatype (a datatype message, or the
/// datatype inside an attribute message) must fit inside the bytes stored for it.
///
/// libhdf5 1.10.8 decodes datatypes without knowing where their message ends: it copies enum and
/// compound member names with strdup, an opaque tag of the length the type declares, and array
/// dimensions into a fixed 32-entry array. A class byte turned into "enum" with 257 members made
/// it strdup past the object-header chunk (heap overflow in `H5MM_xstrdup` from
/// `H5O__attr_exists`; found by libFuzzer). Variable-length and reference types must declare the
/// size their stored elements take, which libhdf5 sizes its buffers by. The encoding followed here is the file format
/// specification's (datatype message versions 1–3, IV.A.2.d); a datatype libhdf5 wrote always
/// fits, so nothing readable is refused.
extension ObjectHeaderCheck {
    struct DatatypeProblem: Error { let what: String }

    /// The offset just past the datatype encoded at `at` in `t` (whose end is the stored size).
    static func datatypeEnd(_ t: [UInt8], at start: Int, depth: Int = 0) throws(DatatypeProblem) -> Int {
        guard depth < 32 else { throw DatatypeProblem(what: "datatype nests more than 32 levels") }
        guard start + 8 <= t.count else { throw DatatypeProblem(what: "datatype header runs past its \(t.count) stored bytes") }
        let cls = Int(t[start] & 0x0F), version = Int(t[start] >> 4)
        let bits = Int(le(t, start + 1, 3)), size = le(t, start + 4, 4)
        guard (1...3).contains(version) else { return t.count }  // libhdf5 refuses other versions itself
        var p = start + 8
        func need(_ bytes: Int, _ what: String) throws(DatatypeProblem) {
            guard bytes >= 0, p + bytes <= t.count else {
                throw DatatypeProblem(what: "\(what) runs past the datatype's \(t.count) stored bytes")
            }
            p += bytes
        }
        /// A member name: NUL-terminated, padded to a multiple of 8 bytes before version 3.
        func name(_ what: String) throws(DatatypeProblem) {
            guard p < t.count, let z = t[p...].firstIndex(of: 0) else {
                throw DatatypeProblem(what: "\(what) name has no NUL inside the datatype's \(t.count) stored bytes")
            }
            let length = z - p + 1
            try need(version < 3 ? (length + 7) / 8 * 8 : length, "\(what) name")
        }
        switch cls {
        // Bit fields must lie inside the element: libhdf5 converts element by element with the
        // offsets and lengths as stored (a forged integer precision made H5T__bit_copy read far
        // outside the conversion buffer: SIGBUS; found by libFuzzer). The limits are the ones
        // H5Tset_precision / H5Tset_fields enforce on types libhdf5 creates.
        case 0, 4:  // fixed-point, bitfield: bit offset (2), precision (2)
            try need(4, "integer properties")
            let offset = le(t, start + 8, 2), precision = le(t, start + 10, 2)
            guard precision >= 1, offset + precision <= 8 * size else {
                throw DatatypeProblem(what: "integer of \(size) bytes declares \(precision) bits at bit \(offset)")
            }
        case 1:  // floating point: bit offset (2), precision (2), exponent and mantissa locations and sizes (1 each), bias (4)
            try need(12, "floating-point properties")
            let offset = le(t, start + 8, 2), precision = le(t, start + 10, 2)
            let ePos = UInt64(t[start + 12]), eSize = UInt64(t[start + 13]), mPos = UInt64(t[start + 14]), mSize = UInt64(t[start + 15])
            let sign = UInt64((bits >> 8) & 0xFF)
            guard precision >= 1, offset + precision <= 8 * size, eSize >= 1, mSize >= 1,
                  ePos + eSize <= precision, mPos + mSize <= precision, sign < precision else {
                throw DatatypeProblem(what: "floating-point type of \(size) bytes declares fields outside its \(precision) bits at bit \(offset) (sign \(sign), exponent \(eSize) at \(ePos), mantissa \(mSize) at \(mPos))")
            }
        case 2: try need(2, "time properties")
        case 3: break  // string: no properties
        case 7:  // reference: no properties; libhdf5 sizes buffers by the size a stored one takes
            let stored: UInt64 = bits & 0x0F == 1 ? 12 : 8  // dataset region: address + index; object: address
            guard bits & 0x0F > 1 || size == stored else {
                throw DatatypeProblem(what: "reference datatype declares \(size)-byte elements (stored ones take \(stored))")
            }
        case 5: try need(bits & 0xFF, "opaque tag")
        case 6:  // compound
            let members = bits & 0xFFFF
            for m in 0..<members {
                try name("compound member \(m)")
                if version == 1 {
                    try need(4 + 1 + 3 + 4 + 4 + 16, "compound member \(m) offset and dimensions")
                } else if version == 2 {
                    try need(4, "compound member \(m) offset")
                } else {
                    var offsetBytes = 1, s = size
                    while s > 255 { s >>= 8; offsetBytes += 1 }
                    try need(offsetBytes, "compound member \(m) offset")
                }
                guard p < t.count else { throw DatatypeProblem(what: "compound member \(m) type runs past the datatype's \(t.count) stored bytes") }
                p = try datatypeEnd(t, at: p, depth: depth + 1)
            }
        case 8:  // enumeration: base type, names, values
            let members = bits & 0xFFFF
            let baseAt = p
            p = try datatypeEnd(t, at: p, depth: depth + 1)
            let baseSize = Int(le(t, baseAt + 4, 4))
            for m in 0..<members { try name("enumeration member \(m)") }
            let (values, o) = members.multipliedReportingOverflow(by: baseSize)
            guard !o else { throw DatatypeProblem(what: "enumeration values overflow") }
            try need(values, "\(members) enumeration values of \(baseSize) bytes")
        case 9:  // variable-length: length (4), collection address (8), object index (4); base type
            // libhdf5 sizes buffers (also a sequence of sequences) by the 16 bytes a stored element
            // takes, whatever size is declared (heap overflows in H5A__read and H5HG_read).
            guard size == 16 else {
                throw DatatypeProblem(what: "variable-length datatype declares \(size)-byte elements (stored ones take 16)")
            }
            // 0 sequence, 1 string; libhdf5 only asserts it and then converts with the callbacks
            // of neither (SIGSEGV in H5F_addr_decode from H5T__conv_vlen; found by libFuzzer).
            guard bits & 0x0F <= 1 else {
                throw DatatypeProblem(what: "variable-length datatype of type \(bits & 0x0F) (0 sequence, 1 string)")
            }
            p = try datatypeEnd(t, at: p, depth: depth + 1)
        case 10:  // array: rank, (reserved,) dimensions, (permutation,) base type
            guard p < t.count else { throw DatatypeProblem(what: "array rank runs past the datatype's \(t.count) stored bytes") }
            let rank = Int(t[p])
            // libhdf5 decodes the dimensions into a fixed array of 32 (H5S_MAX_RANK)
            guard rank <= 32 else { throw DatatypeProblem(what: "array datatype of rank \(rank) (at most 32)") }
            try need(1 + (version < 3 ? 3 : 0), "array rank")
            try need(4 * rank * (version < 3 ? 2 : 1), "array dimensions")
            p = try datatypeEnd(t, at: p, depth: depth + 1)
        default:
            break  // libhdf5 refuses unknown classes itself
        }
        return p
    }
}
