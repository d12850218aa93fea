//! Where the command keeps compiled components between runs.
//!
//! The engine names each entry by the component's content hash and its own compatibility
//! hash (wasmtime's version and every setting that changes compiled code), checks a checksum
//! before trusting one, and writes through a temporary file and a rename, so two processes
//! starting at once each see a whole entry or none.

use std::path::PathBuf;

/// The directory of the command's compiled-component cache: `--cache-dir` (or
/// `AIRSSYS_CACHE_DIR`), else `$XDG_CACHE_HOME/airssys-wasm`, else
/// `$HOME/.cache/airssys-wasm`; `None` with `--no-cache`, or when no home is known.
pub fn dir(given: Option<PathBuf>, off: bool) -> Option<PathBuf> {
    if off {
        return None;
    }
    if let Some(dir) = given {
        return Some(dir);
    }
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = env_dir("XDG_CACHE_HOME").or_else(|| env_dir("HOME").map(|h| h.join(".cache")));
    if base.is_none() {
        tracing::debug!(target: "airssys::cli", "no XDG_CACHE_HOME or HOME: compiled components are not kept");
    }
    base.map(|b| b.join("airssys-wasm"))
}

/// The cache as the commands receive it.
pub type Cache = Option<PathBuf>;
