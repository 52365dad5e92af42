//! Where one entry ends in a file's unread bytes: at each newline, before the next line that
//! matches `line_start_pattern`, or after a line that matches `line_end_pattern`. Entries are
//! trimmed of surrounding whitespace (the Collector's default) and empty ones are skipped.

use super::config::Multiline;

/// The next entry found at the front of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    /// `consumed` bytes make one entry whose text is `buf[range]`.
    Entry {
        consumed: usize,
        range: std::ops::Range<usize>,
    },
    /// More bytes are needed to know where the entry ends.
    Incomplete,
}

/// Finds the first entry in `buf`.
pub fn next_entry(buf: &[u8], multiline: &Multiline) -> Split {
    match multiline {
        Multiline::Lines => match memchr(buf, 0) {
            Some(nl) => Split::Entry {
                consumed: nl + 1,
                range: 0..nl,
            },
            None => Split::Incomplete,
        },
        Multiline::LineStart(re) => {
            // The first line belongs to the entry whatever it is; the entry ends before the
            // next complete line that starts one.
            let Some(first_nl) = memchr(buf, 0) else {
                return Split::Incomplete;
            };
            let mut at = first_nl + 1;
            while let Some(nl) = memchr(buf, at) {
                let line = &buf[at..nl];
                if re.is_match(&String::from_utf8_lossy(line)) {
                    return Split::Entry {
                        consumed: at,
                        range: 0..at - 1,
                    };
                }
                at = nl + 1;
            }
            Split::Incomplete
        }
        Multiline::LineEnd(re) => {
            let mut at = 0;
            while let Some(nl) = memchr(buf, at) {
                if re.is_match(&String::from_utf8_lossy(&buf[at..nl])) {
                    return Split::Entry {
                        consumed: nl + 1,
                        range: 0..nl,
                    };
                }
                at = nl + 1;
            }
            Split::Incomplete
        }
    }
}

fn memchr(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|b| *b == b'\n')
        .map(|p| p + from)
}

/// `buf[range]` without surrounding whitespace (a `\r` before the newline included).
pub fn trimmed(buf: &[u8]) -> &[u8] {
    buf.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn entries(input: &str, m: &Multiline) -> (Vec<String>, usize) {
        let mut at = 0;
        let mut out = Vec::new();
        while let Split::Entry { consumed, range } = next_entry(&input.as_bytes()[at..], m) {
            let text = &input.as_bytes()[at..][range];
            out.push(String::from_utf8_lossy(trimmed(text)).into_owned());
            at += consumed;
        }
        (out, at)
    }

    #[test]
    fn lines_keep_an_unterminated_tail() {
        let (e, at) = entries("a\r\nb\n\nc", &Multiline::Lines);
        assert_eq!(e, vec!["a", "b", ""]);
        assert_eq!(at, 6);
    }

    #[test]
    fn java_stack_traces_by_line_start() {
        let m = Multiline::LineStart(Regex::new(r"^\d{4}-").unwrap());
        let input = "2025-01-01 ERROR boom\njava.lang.IllegalStateException: x\n\tat A.b(A.java:1)\n2025-01-01 INFO ok\n2025-01-01 INFO\n";
        let (e, at) = entries(input, &m);
        assert_eq!(
            e,
            vec![
                "2025-01-01 ERROR boom\njava.lang.IllegalStateException: x\n\tat A.b(A.java:1)",
                "2025-01-01 INFO ok"
            ]
        );
        // The last entry waits for the next start (or the force flush).
        assert_eq!(&input[at..], "2025-01-01 INFO\n");
    }

    #[test]
    fn line_end_pattern() {
        let m = Multiline::LineEnd(Regex::new(r";$").unwrap());
        let (e, _) = entries("a\nb;\nc;\nd\n", &m);
        assert_eq!(e, vec!["a\nb;", "c;"]);
    }
}
