//! The one macro every vocabulary enum is made with, so that each has the same surface:
//! `ALL`, `as_str()` (the canonical name), `Display`, and a forgiving `FromStr`.
//!
//! Parsing is case-insensitive, treats `-` and space like `_` (`half-open` is `HALF_OPEN`), and
//! accepts the aliases listed beside a variant: the older or seed names that `docs/vocabulary.md`
//! maps to exactly one current name. Ambiguous old names (the seed's `Queue.PRESSURE`) are
//! deliberately not aliases: they have no single meaning to map to.

/// A name that is not in the vocabulary (or not in this part of it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a {what}; expected one of: {expected}")]
pub struct UnknownName {
    /// What was being parsed, e.g. "Queues sign" or "instrument".
    pub what: &'static str,
    /// The text that did not match.
    pub name: String,
    /// The canonical names that would have matched, comma separated.
    pub expected: String,
}

/// `text` spells `name`, ignoring ASCII case and treating `-` and ` ` as `_`.
pub(crate) fn same_name(name: &str, text: &str) -> bool {
    fn fold(b: u8) -> u8 {
        match b {
            b'-' | b' ' => b'_',
            other => other.to_ascii_uppercase(),
        }
    }
    name.len() == text.len()
        && name
            .bytes()
            .zip(text.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

pub(crate) fn list(names: &[&str]) -> String {
    names.join(", ")
}

/// Declares a vocabulary enum: `Variant = "CANONICAL" | "alias" | ...`.
///
/// The derived `Ord` is declaration order; declare in the order that means something (severity
/// for statuses, TENTATIVE < MEASURED < CONFIRMED for confidence).
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $what:literal {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $text:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Every canonical name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical name, as `docs/vocabulary.md` spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses a canonical name or an alias, ignoring case; `None` if unknown.
            pub fn parse(text: &str) -> Option<Self> {
                let text = text.trim();
                $(
                    if $crate::names::same_name($text, text)
                        $(|| $crate::names::same_name($alias, text))*
                    {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // `pad`, not `write_str`, so width and alignment flags work in tables.
                f.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text).ok_or_else(|| $crate::names::UnknownName {
                    what: $what,
                    name: text.to_string(),
                    expected: $crate::names::list(Self::NAMES),
                })
            }
        }
    };
}

pub(crate) use vocabulary;
