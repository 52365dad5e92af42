//! Java's "modified UTF-8" (`DataOutput.writeUTF`): UTF-16 code units encoded one by one, with
//! U+0000 as two bytes and supplementary characters as two three-byte surrogates.
//!
//! Decoding is strict (malformed sequences are an error, as in Java) and allocation is bounded by
//! the input length.

/// Encodes `s` as modified UTF-8 (no length prefix).
pub fn encode(s: &str) -> Vec<u8> {
    // Fast path: plain ASCII without NUL is identical in both encodings (every name a JMX
    // client writes).
    if s.bytes().all(|b| b != 0 && b < 0x80) {
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => out.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                out.push(0xC0 | (unit >> 6) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                out.push(0xE0 | (unit >> 12) as u8);
                out.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    out
}

/// Why a byte sequence is not modified UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidMutf8 {
    /// Offset of the offending byte.
    pub offset: usize,
}

/// [`decode`] into a shared string: one allocation for the common plain-ASCII case.
pub fn decode_shared(bytes: &[u8]) -> Result<std::sync::Arc<str>, InvalidMutf8> {
    if bytes.iter().all(|&b| b != 0 && b < 0x80) {
        return std::str::from_utf8(bytes)
            .map(std::sync::Arc::from)
            .map_err(|e| InvalidMutf8 {
                offset: e.valid_up_to(),
            });
    }
    decode(bytes).map(std::sync::Arc::from)
}

/// Decodes modified UTF-8. Unpaired surrogates become U+FFFD (Java strings may hold them; Rust
/// strings cannot).
pub fn decode(bytes: &[u8]) -> Result<String, InvalidMutf8> {
    // Fast path: plain ASCII without NUL is identical in both encodings.
    if bytes.iter().all(|&b| b != 0 && b < 0x80) {
        return std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| InvalidMutf8 {
                offset: e.valid_up_to(),
            });
    }
    let mut units: Vec<u16> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b0) = bytes.get(i) {
        let bad = InvalidMutf8 { offset: i };
        let cont = |k: usize| -> Result<u16, InvalidMutf8> {
            match bytes.get(i + k) {
                Some(&b) if b & 0xC0 == 0x80 => Ok(u16::from(b & 0x3F)),
                _ => Err(InvalidMutf8 { offset: i + k }),
            }
        };
        match b0 >> 4 {
            0x0..=0x7 => {
                if b0 == 0 {
                    return Err(bad);
                }
                units.push(u16::from(b0));
                i += 1;
            }
            0xC | 0xD => {
                let b1 = cont(1)?;
                units.push((u16::from(b0 & 0x1F) << 6) | b1);
                i += 2;
            }
            0xE => {
                let b1 = cont(1)?;
                let b2 = cont(2)?;
                units.push((u16::from(b0 & 0x0F) << 12) | (b1 << 6) | b2);
                i += 3;
            }
            _ => return Err(bad),
        }
    }
    Ok(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ascii_nul_and_supplementary() {
        for s in [
            "",
            "jmxrmi",
            "a\0b",
            "é",
            "€",
            "𝄞 music",
            "kafka.producer:type=x",
        ] {
            assert_eq!(decode(&encode(s)).unwrap(), s);
        }
        assert_eq!(encode("\0"), vec![0xC0, 0x80]);
        // U+1D11E is a surrogate pair: two three-byte sequences, six bytes.
        assert_eq!(encode("𝄞").len(), 6);
    }

    #[test]
    fn rejects_malformed() {
        assert!(decode(&[0x00]).is_err());
        assert!(decode(&[0xC0]).is_err());
        assert!(decode(&[0xE0, 0x80]).is_err());
        assert!(decode(&[0xF0, 0x80, 0x80, 0x80]).is_err());
        assert!(decode(&[0xC3, 0x41]).is_err());
    }
}
