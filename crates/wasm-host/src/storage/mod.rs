//! Storage backends: [`RedbStorage`] (persistent, the default for files) and the in-memory
//! [`MemoryStorage`] of the runtime (for tests and hosts that need no persistence).

mod redb;

pub use self::redb::{CommitStats, RedbOptions, RedbStorage};
pub use wasm_runtime::MemoryStorage;
