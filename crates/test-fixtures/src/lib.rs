//! Test-only access to the guest components that `cargo xtask fixtures` builds.
//!
//! The fixtures are listed in `fixtures/out/index.txt` (`<name>\t<file>` per line), next to
//! the files. Set `AIRSSYS_FIXTURES_DIR` to read them from elsewhere.

// Test support: a missing fixture is a broken test setup, reported by panicking.
#![allow(clippy::panic)]

use std::path::PathBuf;

fn out_dir() -> PathBuf {
    match std::env::var_os("AIRSSYS_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/out"),
    }
}

fn index() -> Vec<(String, String)> {
    let path = out_dir().join("index.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; build the fixtures with `cargo xtask fixtures`",
            path.display()
        )
    });
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, file)| (name.to_owned(), file.to_owned()))
        .collect()
}

/// The repository's root directory (where `target/` is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names of the built fixtures.
pub fn fixture_names() -> Vec<String> {
    index().into_iter().map(|(name, _)| name).collect()
}

/// The path of a built fixture.
///
/// # Panics
///
/// If the fixture is not built: run `cargo xtask fixtures`.
pub fn fixture_path(name: &str) -> PathBuf {
    match index().into_iter().find(|(n, _)| n == name) {
        Some((_, file)) => out_dir().join(file),
        None => panic!("fixture '{name}' is not built: run cargo xtask fixtures"),
    }
}

/// The bytes of a built fixture.
///
/// # Panics
///
/// If the fixture is not built or cannot be read.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Where `promtool` is: `AIRSSYS_PROMTOOL` if set, else the one `cargo xtask test` unpacks
/// into `target/tools/prometheus`, else `promtool` on `PATH`.
pub fn promtool_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AIRSSYS_PROMTOOL") {
        return PathBuf::from(path);
    }
    let installed = workspace_root().join("target/tools/prometheus/promtool");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("promtool")
}

mod nats;
mod proxy;

pub use nats::{NatsServer, free_port, nats_server_binary};
pub use proxy::Proxy;
