//! Byte-level mutations of a corpus input, the classic set: bit flips, random bytes,
//! interesting integers (both byte orders), length fields boosted, truncation, deletion,
//! duplication, splicing with another input, and the target's dictionary tokens. One
//! [`mutate`] call stacks one to eight of them.

use proptest::prelude::RngExt;
use proptest::test_runner::TestRng;

/// Integers at the edges decoders get wrong: sign boundaries, all-ones, powers of two.
const INTERESTING: &[u64] = &[
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// What a mutation may use besides the input itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Another input to splice from.
    pub other: &'a [u8],
    /// The target's tokens.
    pub dictionary: &'a [&'a [u8]],
    /// The longest input to produce.
    pub max_len: usize,
}

/// `input` with one to eight stacked mutations.
pub fn mutate(rng: &mut TestRng, input: &[u8], cx: Context<'_>) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        one(rng, &mut data, cx);
    }
    data.truncate(cx.max_len);
    data
}

fn one(rng: &mut TestRng, data: &mut Vec<u8>, cx: Context<'_>) {
    let len = data.len();
    let at = |rng: &mut TestRng| rng.random_range(0..=len);
    match rng.random_range(0..12) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] = rng.random();
        }
        2 => {
            // An interesting integer, 1/2/4/8 bytes, big- or little-endian, over or into.
            let value = INTERESTING[rng.random_range(0..INTERESTING.len())];
            let width = [1usize, 2, 4, 8][rng.random_range(0..4)];
            let bytes = if rng.random_bool(0.7) {
                value.to_be_bytes()[8 - width..].to_vec()
            } else {
                value.to_le_bytes()[..width].to_vec()
            };
            overwrite_or_insert(rng, data, &bytes);
        }
        3 if len >= 4 => boost_length(rng, data),
        4 => {
            let i = at(rng);
            data.truncate(i);
        }
        5 if len > 0 => {
            let from = rng.random_range(0..len);
            let to = rng.random_range(from..=len.min(from + 64));
            data.drain(from..to);
        }
        6 if len > 0 => {
            // Repeat a range: more elements than a count says, or a structure twice.
            let from = rng.random_range(0..len);
            let to = rng.random_range(from..=len);
            let piece = data[from..to].to_vec();
            for _ in 0..rng.random_range(1..=16) {
                if data.len() + piece.len() > cx.max_len {
                    break;
                }
                let i = rng.random_range(0..=data.len());
                data.splice(i..i, piece.iter().copied());
            }
        }
        7 if !cx.other.is_empty() => {
            // Splice: our head, the other's tail.
            let i = at(rng);
            let j = rng.random_range(0..cx.other.len());
            data.truncate(i);
            data.extend_from_slice(&cx.other[j..]);
        }
        8 | 9 if !cx.dictionary.is_empty() => {
            let token = cx.dictionary[rng.random_range(0..cx.dictionary.len())];
            overwrite_or_insert(rng, data, token);
        }
        10 => {
            // A protobuf varint of an interesting value (a length or tag out of range).
            let value = INTERESTING[rng.random_range(0..INTERESTING.len())];
            overwrite_or_insert(rng, data, &varint(value));
        }
        _ => {
            let i = at(rng);
            let n = rng.random_range(1..=32);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            data.splice(i..i, bytes);
        }
    }
}

fn overwrite_or_insert(rng: &mut TestRng, data: &mut Vec<u8>, bytes: &[u8]) {
    let i = rng.random_range(0..=data.len());
    if rng.random_bool(0.5) {
        let end = (i + bytes.len()).min(data.len());
        data.splice(i..end, bytes.iter().copied());
    } else {
        data.splice(i..i, bytes.iter().copied());
    }
}

/// Reads a 2- or 4-byte big-endian number somewhere (a length field, perhaps) and makes it
/// much larger, or slightly off.
fn boost_length(rng: &mut TestRng, data: &mut [u8]) {
    let width = if rng.random_bool(0.5) { 2 } else { 4 };
    let i = rng.random_range(0..=data.len() - width);
    let field = &mut data[i..i + width];
    let mut value = field.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
    value = match rng.random_range(0..4) {
        0 => value.saturating_mul(1 << rng.random_range(1..16)),
        1 => value.wrapping_add(1),
        2 => value.wrapping_sub(1),
        _ => value.saturating_add(rng.random_range(1..1 << 20)),
    };
    let bytes = value.to_be_bytes();
    field.copy_from_slice(&bytes[8 - width..]);
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::RngAlgorithm;

    #[test]
    fn mutations_stay_within_the_length_cap_and_change_the_input() {
        let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
        let input: Vec<u8> = (0..=255).collect();
        let cx = Context {
            other: b"other input",
            dictionary: &[b"TOKEN"],
            max_len: 300,
        };
        let mut changed = 0;
        for _ in 0..2_000 {
            let out = mutate(&mut rng, &input, cx);
            assert!(out.len() <= 300);
            changed += usize::from(out != input);
        }
        // A stack of one to eight mutations rarely cancels out.
        assert!(
            changed > 1_900,
            "only {changed} of 2000 mutations changed the input"
        );
    }

    #[test]
    fn varints_are_little_endian_groups_of_seven() {
        assert_eq!(varint(1), [1]);
        assert_eq!(varint(300), [0xAC, 0x02]);
        assert_eq!(varint(u64::MAX).len(), 10);
    }
}
