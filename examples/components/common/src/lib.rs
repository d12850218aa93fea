//! What the order-pipeline components share: the bindings of `airssys:core/runtime-host`
//! (generated once, here, from the repository's `wit/`), a small [`Component`] trait with
//! harmless defaults, and the text format of the pipeline's messages.
//!
//! Messages are one line of text: a verb, then `key=value` words, for example
//! `order id=o-1 customer=alice sku=widget qty=3`. No serde: a plug-in author can read every
//! payload in a log.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "airssys:core/runtime-host",
    pub_export_macro: true,
    export_macro_name: "export_component",
    default_bindings_module: "pipeline_common",
});

pub use airssys::core::errors::{ComponentError, MessagingError, StorageError, WasmError};
pub use airssys::core::types::{
    ComponentConfig, ComponentId, ComponentMessage, ComponentMetadata, HealthStatus, LogLevel,
};
pub use airssys::core::{host_messaging, host_services, storage};
pub use exports::airssys::core::component_lifecycle::Guest;

/// What `handle-message` returns: the reply to a request, if any.
pub type Reply = Result<Option<Vec<u8>>, WasmError>;

/// The content type of an error callback (see `wit/component-lifecycle.wit`).
pub const ERROR_CONTENT_TYPE: &str = "application/vnd.airssys.error";

/// A component of the pipeline; everything but `handle` has a default.
pub trait Component {
    /// The metadata name.
    const NAME: &'static str;
    /// One line on what it does.
    const DESCRIPTION: &'static str;
    /// The verbs it understands.
    const OPERATIONS: &'static [&'static str];
    /// Whether it keeps state between messages.
    const STATEFUL: bool = false;

    /// Handles a message or a request.
    fn handle(message: ComponentMessage) -> Reply;

    /// Handles the answer to a request it made.
    fn callback(_message: ComponentMessage) -> Result<(), WasmError> {
        Ok(())
    }

    /// Reads the configuration.
    fn initialize(_config: ComponentConfig) -> Result<(), ComponentError> {
        Ok(())
    }

    /// Called once when the host stops the component.
    fn shutdown() -> Result<(), ComponentError> {
        Ok(())
    }
}

/// Exports a [`Component`] as the component's `component-lifecycle`.
#[macro_export]
macro_rules! export_pipeline_component {
    ($component:ty) => {
        struct PipelineGuest;

        impl $crate::Guest for PipelineGuest {
            fn initialize(config: $crate::ComponentConfig) -> Result<(), $crate::ComponentError> {
                <$component as $crate::Component>::initialize(config)
            }
            fn handle_message(message: $crate::ComponentMessage) -> $crate::Reply {
                <$component as $crate::Component>::handle(message)
            }
            fn handle_callback(message: $crate::ComponentMessage) -> Result<(), $crate::WasmError> {
                <$component as $crate::Component>::callback(message)
            }
            fn metadata() -> $crate::ComponentMetadata {
                $crate::metadata::<$component>()
            }
            fn health() -> $crate::HealthStatus {
                $crate::HealthStatus::Healthy
            }
            fn shutdown() -> Result<(), $crate::ComponentError> {
                <$component as $crate::Component>::shutdown()
            }
        }

        $crate::export_component!(PipelineGuest with_types_in $crate);
    };
}

/// The metadata of a component.
pub fn metadata<C: Component>() -> ComponentMetadata {
    ComponentMetadata {
        name: C::NAME.into(),
        version: "0.1.0".into(),
        description: C::DESCRIPTION.into(),
        author: "airssys-wasm examples".into(),
        license: "MIT OR Apache-2.0".into(),
        supported_operations: C::OPERATIONS.iter().map(|s| (*s).to_owned()).collect(),
        stateful: C::STATEFUL,
    }
}

/// The payload as text (lossy).
pub fn text(message: &ComponentMessage) -> String {
    String::from_utf8_lossy(&message.payload).into_owned()
}

/// A text reply.
pub fn reply(text: impl Into<String>) -> Reply {
    Ok(Some(text.into().into_bytes()))
}

/// The first word of a message.
pub fn verb(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// The value of `key=value` in a message (after its verb) or in a reply (which has no verb,
/// for example `cents=750`), if present.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A numeric field.
pub fn number(line: &str, key: &str) -> Option<u64> {
    field(line, key).and_then(|v| v.parse().ok())
}

/// An id from its text form `namespace/name/instance`.
pub fn id(text: &str) -> ComponentId {
    let mut parts = text.splitn(3, '/');
    ComponentId {
        namespace: parts.next().unwrap_or("").into(),
        name: parts.next().unwrap_or("").into(),
        instance: parts.next().unwrap_or("").into(),
    }
}

/// The text form of an id.
pub fn id_text(id: &ComponentId) -> String {
    format!("{}/{}/{}", id.namespace, id.name, id.instance)
}

/// Logs through the host's `tracing`, tagged with this component's id.
pub fn log(level: LogLevel, message: &str) {
    host_services::log(level, message, None);
}

/// A messaging error as text, for logs.
pub fn messaging_error(e: &MessagingError) -> String {
    match e {
        MessagingError::DeliveryFailed(s) => format!("delivery failed: {s}"),
        MessagingError::CorrelationTimeout(s) => format!("correlation timeout: {s}"),
        MessagingError::InvalidMessage(s) => format!("invalid message: {s}"),
        MessagingError::QueueFull => "queue full".into(),
        MessagingError::TargetNotFound(id) => format!("target not found: {}", id_text(id)),
    }
}

/// A storage error as text, for logs.
pub fn storage_error(e: &StorageError) -> String {
    match e {
        StorageError::NotFound(s) => format!("not found: {s}"),
        StorageError::AlreadyExists(s) => format!("already exists: {s}"),
        StorageError::QuotaExceeded => "quota exceeded".into(),
        StorageError::InvalidKey(s) => format!("invalid key: {s}"),
        StorageError::IoError(s) => format!("io error: {s}"),
    }
}

/// A host-side failure as a `runtime-error` the caller sees.
pub fn failure(detail: impl Into<String>) -> WasmError {
    WasmError::RuntimeError(detail.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_verb() {
        let line = "order id=o-1 customer=alice sku=widget qty=3";
        assert_eq!(verb(line), "order");
        assert_eq!(field(line, "sku"), Some("widget"));
        assert_eq!(number(line, "qty"), Some(3));
        assert_eq!(field(line, "price"), None);
    }

    #[test]
    fn fields_are_read_from_a_reply_without_a_verb() {
        assert_eq!(number("cents=750", "cents"), Some(750));
        assert_eq!(
            number("orders=8 total-cents=35823", "total-cents"),
            Some(35823)
        );
    }
}
