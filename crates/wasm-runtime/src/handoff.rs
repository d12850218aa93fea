//! The optional state hand-off of `airssys:core/state-handoff@1.1.0` (`wit/v1.1`): how a
//! component gives its in-memory state to its next version during a live upgrade.
//!
//! The interface is found once, when a component is loaded; components built for 1.0.0 do
//! not export it. Lookups are semver-aware (wasmtime's), so a later 1.x of the interface is
//! found too.

use wasmtime::component::{Component, ComponentExportIndex};

/// The exported interface, by its 1.1.0 name.
pub const HANDOFF_EXPORT: &str = "airssys:core/state-handoff@1.1.0";

/// Where a component's `save` and `restore` are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandoffExports {
    pub(crate) save: ComponentExportIndex,
    pub(crate) restore: ComponentExportIndex,
}

impl HandoffExports {
    /// The hand-off functions of `component`, if it exports the interface with both.
    pub(crate) fn find(component: &Component) -> Option<Self> {
        let interface = component.get_export_index(None, HANDOFF_EXPORT)?;
        Some(Self {
            save: component.get_export_index(Some(&interface), "save")?,
            restore: component.get_export_index(Some(&interface), "restore")?,
        })
    }
}
