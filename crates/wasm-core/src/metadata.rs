//! What components say about themselves, and what the host says about them.

use crate::id::ComponentId;

/// What a component says about itself through its `metadata` export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentMetadata {
    /// Human-readable name.
    pub name: String,
    /// Version text.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Author.
    pub author: String,
    /// Licence.
    pub license: String,
    /// The operations (command words) the component understands.
    pub supported_operations: Vec<String>,
    /// Whether the component keeps state between messages.
    pub stateful: bool,
}

/// What the host knows about a running component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// The component's id.
    pub id: ComponentId,
    /// Name from its metadata.
    pub name: String,
    /// Version from its metadata.
    pub version: String,
    /// Text form of the last polled health status.
    pub health: String,
}
