//! Where inputs live on disk: `fuzz/corpus/<target>/` (seeds and inputs that reached new
//! checks, committed), `fuzz/findings/<target>/` (inputs that crashed, hung or allocated too
//! much; committed once fixed, they are regression tests), plus each target's extra seed
//! folders. Files are named by a hash of their content, so saving twice is harmless.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use crate::targets::Target;

/// The `fuzz/` folder of the workspace.
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of `target`.
pub fn corpus_dir(target: &Target) -> PathBuf {
    fuzz_dir().join("corpus").join(target.name)
}

/// The findings of `target`.
pub fn findings_dir(target: &Target) -> PathBuf {
    fuzz_dir().join("findings").join(target.name)
}

/// Every file in `dir`, sorted by name (a missing folder is empty).
pub fn read_dir(dir: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "README.md") {
            let bytes = std::fs::read(&path)?;
            files.push((path, bytes));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The seeds of `target`: its corpus folder, then its extra seed folders.
pub fn seeds(target: &Target) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let workspace = fuzz_dir().join("..");
    let mut all = read_dir(&corpus_dir(target))?;
    for extra in target.seeds {
        all.extend(read_dir(&workspace.join(extra))?);
    }
    Ok(all)
}

/// A name for `data`: its hash, in hex.
pub fn name_of(data: &[u8]) -> String {
    // SipHash with fixed keys: the same bytes get the same name on every run and machine.
    let mut hasher = DefaultHasher::new();
    data.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Saves `data` in `dir` as `<prefix><hash>`; returns the path.
pub fn save(dir: &Path, prefix: &str, data: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{prefix}{}", name_of(data)));
    std::fs::write(&path, data)?;
    Ok(path)
}
