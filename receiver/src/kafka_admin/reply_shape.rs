//! The wire shape of every reply this receiver reads, walked before `kafka-protocol` decodes
//! it, so that no array count can exceed the bytes that follow it.
//!
//! Why: `kafka-protocol` 0.18 sizes a `Vec` from an array count read off the wire before it
//! reads one element, so a 12-byte reply announcing 2^31 brokers asks the allocator for
//! hundreds of GB and aborts the process (upstream pull requests #152/#161/#200, open). Every
//! element takes at least one byte, so a count larger than what remains is malformed: the walk
//! rejects it as a bad reply before anything is allocated. The shapes follow Kafka's message
//! schemas for exactly the versions `poll`/`connection` ask for; a unit test encodes each
//! reply with `kafka-protocol` at each of those versions and walks it, so a shape that drifts
//! from the crate's encoder fails there.

/// One field of a reply.
#[derive(Debug, Clone)]
pub enum F {
    I16,
    I32,
    I64,
    Uuid,
    Bool,
    /// Compact (nullable) string.
    CStr,
    /// Compact (nullable) bytes.
    CBytes,
    /// Classic (nullable) string: i16 length.
    Str,
    /// Classic (nullable) bytes: i32 length.
    Bytes,
    /// Compact array of structs (or of one primitive).
    CArr(Vec<F>),
    /// Classic array: i32 count.
    Arr(Vec<F>),
    /// Tagged fields (flexible versions), skipped.
    Tags,
}

use F::*;

/// The body shape of the reply to API `key` at `version`, for the versions we send.
pub fn response(key: i16, version: i16) -> Option<Vec<F>> {
    let v = version;
    Some(match (key, v) {
        // Metadata v9-12.
        (3, 9..=12) => {
            let mut topic = vec![I16, CStr];
            if v >= 10 {
                topic.push(Uuid);
            }
            topic.extend([
                Bool,
                CArr(vec![
                    I16,
                    I32,
                    I32,
                    I32,
                    CArr(vec![I32]),
                    CArr(vec![I32]),
                    CArr(vec![I32]),
                    Tags,
                ]),
                I32,
                Tags,
            ]);
            let mut body = vec![
                I32,
                CArr(vec![I32, CStr, I32, CStr, Tags]),
                CStr,
                I32,
                CArr(topic),
            ];
            if v <= 10 {
                body.push(I32);
            }
            body.push(Tags);
            body
        }
        // ListOffsets v6-7.
        (2, 6..=7) => vec![
            I32,
            CArr(vec![CStr, CArr(vec![I32, I16, I64, I64, I32, Tags]), Tags]),
            Tags,
        ],
        // ListGroups v3-4.
        (16, 3..=4) => {
            let mut group = vec![CStr, CStr];
            if v >= 4 {
                group.push(CStr);
            }
            group.push(Tags);
            vec![I32, I16, CArr(group), Tags]
        }
        // DescribeGroups v5.
        (15, 5) => vec![
            I32,
            CArr(vec![
                I16,
                CStr,
                CStr,
                CStr,
                CStr,
                CArr(vec![CStr, CStr, CStr, CStr, CBytes, CBytes, Tags]),
                I32,
                Tags,
            ]),
            Tags,
        ],
        // OffsetFetch v6-7: one group.
        (9, 6..=7) => vec![
            I32,
            CArr(vec![CStr, CArr(vec![I32, I64, I32, CStr, I16, Tags]), Tags]),
            I16,
            Tags,
        ],
        // OffsetFetch v8: several groups.
        (9, 8) => vec![
            I32,
            CArr(vec![
                CStr,
                CArr(vec![CStr, CArr(vec![I32, I64, I32, CStr, I16, Tags]), Tags]),
                I16,
                Tags,
            ]),
            Tags,
        ],
        // ApiVersions v3.
        (18, 3) => vec![I16, CArr(vec![I16, I16, I16, Tags]), I32, Tags],
        // SaslHandshake v1 (not flexible).
        (17, 1) => vec![I16, Arr(vec![Str])],
        // SaslAuthenticate v2.
        (36, 2) => vec![I16, CStr, CBytes, I64, Tags],
        _ => return None,
    })
}

/// A consumer-protocol assignment body (after its version), v0-3: topics with partitions and
/// optional user data.
pub fn consumer_assignment() -> Vec<F> {
    vec![Arr(vec![Str, Arr(vec![I32])]), Bytes]
}

/// Walks `shape` over `bytes`; an error says what does not fit.
pub fn check(mut bytes: &[u8], shape: &[F]) -> Result<(), String> {
    walk(&mut bytes, shape)
}

fn walk(buf: &mut &[u8], shape: &[F]) -> Result<(), String> {
    for field in shape {
        match field {
            I16 => skip(buf, 2)?,
            I32 => skip(buf, 4)?,
            I64 => skip(buf, 8)?,
            Uuid => skip(buf, 16)?,
            Bool => skip(buf, 1)?,
            CStr | CBytes => {
                let n = uvarint(buf)?;
                if n > 0 {
                    skip(buf, (n - 1) as usize)?;
                }
            }
            Str => {
                let n = i16::from_be_bytes(take::<2>(buf)?);
                if n >= 0 {
                    skip(buf, n as usize)?;
                }
            }
            Bytes => {
                let n = i32::from_be_bytes(take::<4>(buf)?);
                if n >= 0 {
                    skip(buf, n as usize)?;
                }
            }
            CArr(element) => {
                let n = uvarint(buf)?;
                if n > 0 {
                    elements(buf, u64::from(n - 1), element)?;
                }
            }
            Arr(element) => {
                let n = i32::from_be_bytes(take::<4>(buf)?);
                if n >= 0 {
                    elements(buf, n as u64, element)?;
                }
            }
            Tags => {
                let n = uvarint(buf)?;
                count_fits(buf, u64::from(n))?;
                for _ in 0..n {
                    uvarint(buf)?;
                    let size = uvarint(buf)?;
                    skip(buf, size as usize)?;
                }
            }
        }
    }
    Ok(())
}

fn elements(buf: &mut &[u8], n: u64, element: &[F]) -> Result<(), String> {
    count_fits(buf, n)?;
    for _ in 0..n {
        walk(buf, element)?;
    }
    Ok(())
}

/// Every element takes at least one byte.
fn count_fits(buf: &[u8], n: u64) -> Result<(), String> {
    if n > buf.len() as u64 {
        return Err(format!(
            "announces {n} elements with {} bytes left",
            buf.len()
        ));
    }
    Ok(())
}

fn skip(buf: &mut &[u8], n: usize) -> Result<(), String> {
    if buf.len() < n {
        return Err(format!("needs {n} bytes, {} left", buf.len()));
    }
    *buf = &buf[n..];
    Ok(())
}

fn take<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], String> {
    let (head, rest) = buf
        .split_first_chunk::<N>()
        .ok_or_else(|| format!("needs {N} bytes, {} left", buf.len()))?;
    *buf = rest;
    Ok(*head)
}

fn uvarint(buf: &mut &[u8]) -> Result<u32, String> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let [b] = take::<1>(buf)?;
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 5 bytes".into())
}
