//! Compile once per component bytes: an in-memory cache by content hash, and optionally a disk
//! cache of serialized compilations so a second start of a host skips compilation.
//!
//! A disk entry is named by the content hash and the engine's compatibility hash, and carries a
//! checksum of its body. An entry of another engine configuration or wasmtime version is never
//! looked up. Several engines may share a directory (a command run with and without fuel, two
//! wasmtime versions), so such an entry is removed only once no engine has used it for
//! [`STALE_AFTER`] (a disk hit refreshes an entry's modified time); a corrupt one fails its
//! checksum or wasmtime's own header checks, is ignored with a warning and rewritten.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// A SHA-256 content hash.
pub type ContentHash = [u8; 32];

const MAGIC: &[u8; 14] = b"AIRSSYS\0CWASM1";

/// How long an entry of another engine is kept unused before an engine starting on the
/// directory removes it.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 60 * 60);

/// Counters of the compiled-component cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled from bytes.
    pub compiled: u64,
    /// Loads answered from memory.
    pub memory_hits: u64,
    /// Loads answered from the disk cache.
    pub disk_hits: u64,
    /// Disk entries found but not trusted (corrupt or incompatible) and ignored.
    pub disk_rejected: u64,
    /// Disk entries written by an engine with other settings, removed when this one started.
    pub stale_removed: u64,
}

pub(crate) struct ComponentCache {
    memory: Mutex<HashMap<ContentHash, Component>>,
    /// One lock per hash being compiled, so the same bytes are never compiled twice at once.
    compiling: Mutex<HashMap<ContentHash, Arc<Mutex<()>>>>,
    dir: Option<PathBuf>,
    compiled: AtomicU64,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    disk_rejected: AtomicU64,
    stale_removed: AtomicU64,
}

impl fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentCache")
            .field("dir", &self.dir)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of some bytes.
pub(crate) fn content_hash(bytes: &[u8]) -> ContentHash {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ComponentCache {
    /// A cache for `engine`; with a directory, removes the entries of other engines there.
    pub(crate) fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        let stale_removed = dir.as_deref().map_or(0, |dir| remove_stale(dir, engine));
        Self {
            memory: Mutex::new(HashMap::new()),
            compiling: Mutex::new(HashMap::new()),
            dir,
            compiled: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            disk_rejected: AtomicU64::new(0),
            stale_removed: AtomicU64::new(stale_removed),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            disk_rejected: self.disk_rejected.load(Ordering::Relaxed),
            stale_removed: self.stale_removed.load(Ordering::Relaxed),
        }
    }

    /// The compiled component for `bytes`, from memory, disk, or `compile`. Concurrent loads
    /// of the same bytes compile once: the first takes the hash's compile lock, the others
    /// wait on it and then find the component in memory.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        hash: &ContentHash,
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<Component> {
        if let Some(component) = self.memory_hit(hash) {
            return Ok(component);
        }
        let lock = Arc::clone(self.compiling.lock().entry(*hash).or_default());
        let result = {
            let _compiling = lock.lock();
            match self.memory_hit(hash) {
                Some(component) => Ok(component),
                None => self.load_or_compile(engine, hash, compile),
            }
        };
        // The last one out removes the lock: the map holds only hashes being compiled.
        let mut compiling = self.compiling.lock();
        if Arc::strong_count(&lock) == 2 {
            compiling.remove(hash);
        }
        result
    }

    fn memory_hit(&self, hash: &ContentHash) -> Option<Component> {
        let component = self.memory.lock().get(hash).cloned()?;
        self.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some(component)
    }

    fn load_or_compile(
        &self,
        engine: &Engine,
        hash: &ContentHash,
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<Component> {
        let path = self.dir.as_deref().map(|dir| entry_path(dir, engine, hash));
        let from_disk = path.as_deref().and_then(|p| self.load_from_disk(engine, p));
        let component = match from_disk {
            Some(component) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                component
            }
            None => {
                let component = compile()?;
                self.compiled.fetch_add(1, Ordering::Relaxed);
                if let Some(path) = &path {
                    store_on_disk(path, &component);
                }
                component
            }
        };
        self.memory.lock().insert(*hash, component.clone());
        Ok(component)
    }

    fn load_from_disk(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let bytes = std::fs::read(path).ok()?;
        match trusted_body(&bytes).and_then(|body| deserialize(engine, body)) {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "compiled component loaded from the disk cache");
                // In use: keeps it from looking stale to an engine with other settings.
                let _ = std::fs::File::options()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(component)
            }
            Err(reason) => {
                self.disk_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    path = %path.display(),
                    reason,
                    "ignoring a disk cache entry that cannot be trusted; recompiling"
                );
                None
            }
        }
    }
}

/// The part of an entry's file name that names the engine: `-<compatibility hash>.cwasm`.
fn engine_suffix(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("-{:016x}.cwasm", hasher.finish())
}

fn entry_path(dir: &Path, engine: &Engine, hash: &ContentHash) -> PathBuf {
    dir.join(format!("{}{}", hex(hash), engine_suffix(engine)))
}

/// Whether `name` is a cache entry's file name (`<64 hex>-<16 hex>.cwasm`).
fn is_entry_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cwasm") else {
        return false;
    };
    match stem.split_once('-') {
        Some((content, engine)) => {
            content.len() == 64
                && engine.len() == 16
                && content
                    .bytes()
                    .chain(engine.bytes())
                    .all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Removes the entries in `dir` that another engine configuration wrote and nothing has used
/// for [`STALE_AFTER`], with a warning; returns how many. Other files are left alone.
fn remove_stale(dir: &Path, engine: &Engine) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let ours = engine_suffix(engine);
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_entry_name(name) || name.ends_with(&ours) {
            continue;
        }
        let unused_for = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if unused_for.is_none_or(|d| d < STALE_AFTER) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                tracing::warn!(
                    path = %path.display(),
                    "removed a disk cache entry of an engine with other settings, unused for a week"
                );
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "cannot remove a stale disk cache entry"
            ),
        }
    }
    removed
}

/// The body of a cache entry whose magic and checksum are intact.
fn trusted_body(bytes: &[u8]) -> Result<&[u8], String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("missing the cache header")?;
    if rest.len() < 32 {
        return Err("truncated".into());
    }
    let (sum, body) = rest.split_at(32);
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch".into());
    }
    if Engine::detect_precompiled(body) != Some(Precompiled::Component) {
        return Err("not a precompiled component".into());
    }
    Ok(body)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, body: &[u8]) -> Result<Component, String> {
    // SAFETY: `Component::deserialize` requires bytes produced by wasmtime's own serializer.
    // Entries are written only by `store_on_disk` from `Component::serialize`, and `trusted_body`
    // has checked the entry's checksum, so these are those bytes unless someone forged an entry
    // with a matching checksum in the host's private cache directory. wasmtime additionally
    // checks its own header and the engine's compatibility, and errors on mismatch.
    unsafe { Component::deserialize(engine, body) }.map_err(|e| format!("{e:#}"))
}

fn store_on_disk(path: &Path, component: &Component) {
    let result = component
        .serialize()
        .map_err(|e| format!("{e:#}"))
        .and_then(|body| {
            let mut entry = Vec::with_capacity(MAGIC.len() + 32 + body.len());
            entry.extend_from_slice(MAGIC);
            entry.extend_from_slice(&Sha256::digest(&body));
            entry.extend_from_slice(&body);
            write_atomically(path, &entry).map_err(|e| e.to_string())
        });
    if let Err(reason) = result {
        tracing::warn!(path = %path.display(), reason, "cannot write the disk cache entry");
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_recognised() {
        let content = "ab".repeat(32);
        assert!(is_entry_name(&format!("{content}-0123456789abcdef.cwasm")));
        assert!(!is_entry_name(&format!("{content}-0123456789abcdef.tmp42")));
        assert!(!is_entry_name("notes.cwasm"));
        assert!(!is_entry_name(&format!("{content}-xyz.cwasm")));
    }

    #[test]
    fn entries_without_header_or_with_a_bad_checksum_are_rejected() {
        assert!(trusted_body(b"garbage").is_err());
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&[0; 32]);
        entry.extend_from_slice(b"body");
        assert_eq!(trusted_body(&entry), Err("checksum mismatch".into()));
        let mut good = MAGIC.to_vec();
        good.extend_from_slice(&Sha256::digest(b"body"));
        good.extend_from_slice(b"body");
        // Intact checksum, but not something wasmtime produced.
        assert_eq!(
            trusted_body(&good),
            Err("not a precompiled component".into())
        );
    }
}
