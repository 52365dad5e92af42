//! Interned strings with reference counts: every level name, cell name, rule id, source id and
//! evidence name is stored once and referred to by a 4-byte [`Sym`]. Counting references lets
//! names that churn (pod names, deleted topics) be freed when their last cell or reading goes,
//! so the table is bounded by what is live.

use std::{collections::HashMap, sync::Arc};

use crate::hash::Fx;

/// An interned string.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Sym(pub u32);

#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: HashMap<Arc<str>, Sym, Fx>,
    strings: Vec<Option<Arc<str>>>,
    refs: Vec<u32>,
    free: Vec<u32>,
}

impl Interner {
    /// The symbol of `text` if it is interned; takes no reference.
    #[inline]
    pub fn get(&self, text: &str) -> Option<Sym> {
        self.map.get(text).copied()
    }

    /// The symbol of `text`, interning it if needed, and takes one reference.
    pub fn acquire(&mut self, text: &str) -> Sym {
        if let Some(&sym) = self.map.get(text) {
            self.refs[sym.0 as usize] += 1;
            return sym;
        }
        let shared: Arc<str> = Arc::from(text);
        let sym = match self.free.pop() {
            Some(i) => {
                self.strings[i as usize] = Some(shared.clone());
                self.refs[i as usize] = 1;
                Sym(i)
            }
            None => {
                let i = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
                self.strings.push(Some(shared.clone()));
                self.refs.push(1);
                Sym(i)
            }
        };
        self.map.insert(shared, sym);
        sym
    }

    /// Takes one more reference to `sym`.
    pub fn retain(&mut self, sym: Sym) {
        if let Some(r) = self.refs.get_mut(sym.0 as usize) {
            *r += 1;
        }
    }

    /// Drops one reference; the string is freed with its last one.
    pub fn release(&mut self, sym: Sym) {
        let i = sym.0 as usize;
        let Some(r) = self.refs.get_mut(i) else {
            return;
        };
        *r = r.saturating_sub(1);
        if *r == 0
            && let Some(text) = self.strings[i].take()
        {
            self.map.remove(&text);
            self.free.push(sym.0);
        }
    }

    /// The text of `sym` (`""` for a freed symbol, which a correct caller never holds).
    #[inline]
    pub fn resolve(&self, sym: Sym) -> &str {
        match self.strings.get(sym.0 as usize) {
            Some(Some(text)) => text,
            _ => "",
        }
    }

    /// Strings interned now.
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_freed_with_their_last_reference() {
        let mut i = Interner::default();
        let a = i.acquire("orders");
        let b = i.acquire("orders");
        assert_eq!(a, b);
        assert_eq!(i.resolve(a), "orders");
        i.release(a);
        assert_eq!(i.get("orders"), Some(a));
        i.release(b);
        assert_eq!(i.get("orders"), None);
        assert_eq!(i.len(), 0);
        let c = i.acquire("payments");
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(i.resolve(c), "payments");
    }
}
