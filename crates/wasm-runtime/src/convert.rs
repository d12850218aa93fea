//! Moves values between `wasm-core` types and the types `bindgen!` generated.
//!
//! Conversions take their input by value where they can, so strings move instead of being
//! copied.

use wasm_core as core;

use crate::bindings::airssys::core::errors as wit_errors;
use crate::bindings::airssys::core::storage as wit_storage;
use crate::bindings::wit;

pub(crate) fn id_to_wit(id: core::ComponentId) -> wit::ComponentId {
    let (namespace, name, instance) = id.into_parts();
    wit::ComponentId {
        namespace,
        name,
        instance,
    }
}

/// A guest-supplied id, checked.
pub(crate) fn id_from_wit(id: wit::ComponentId) -> Result<core::ComponentId, core::Error> {
    core::ComponentId::new(id.namespace, id.name, id.instance)
}

pub(crate) fn timestamp_to_wit(t: core::Timestamp) -> wit::Timestamp {
    wit::Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

/// Copies a message into the generated type (the caller keeps the original, for example to
/// report it as a dead letter if the call fails).
pub(crate) fn message_to_wit(msg: &core::ComponentMessage) -> wit::ComponentMessage {
    let meta = &msg.metadata;
    wit::ComponentMessage {
        sender: id_to_wit(msg.sender.clone()),
        payload: msg.payload.clone(),
        metadata: wit::MessageMetadata {
            correlation_id: meta.correlation_id.as_ref().map(|c| c.as_str().to_owned()),
            reply_to: meta.reply_to.clone().map(id_to_wit),
            timestamp: timestamp_to_wit(meta.timestamp),
            content_type: meta.content_type.clone(),
        },
    }
}

pub(crate) fn config_to_wit(config: &core::ComponentConfig) -> wit::ComponentConfig {
    wit::ComponentConfig {
        env_vars: config.env_vars.clone(),
        config_data: config.config_data.clone(),
        resource_limits: wit::ResourceLimits {
            max_memory_bytes: config.resource_limits.max_memory_bytes,
            max_execution_time_ms: config.resource_limits.max_execution_time_ms,
            max_fuel: config.resource_limits.max_fuel,
        },
    }
}

pub(crate) fn metadata_from_wit(m: wit::ComponentMetadata) -> core::ComponentMetadata {
    core::ComponentMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
        author: m.author,
        license: m.license,
        supported_operations: m.supported_operations,
        stateful: m.stateful,
    }
}

pub(crate) fn info_to_wit(info: core::ComponentInfo) -> wit::ComponentInfo {
    wit::ComponentInfo {
        id: id_to_wit(info.id),
        name: info.name,
        version: info.version,
        health: info.health,
    }
}

pub(crate) fn health_from_wit(h: wit::HealthStatus) -> core::HealthStatus {
    match h {
        wit::HealthStatus::Healthy => core::HealthStatus::Healthy,
        wit::HealthStatus::Degraded => core::HealthStatus::Degraded,
        wit::HealthStatus::Unhealthy => core::HealthStatus::Unhealthy,
        wit::HealthStatus::Unknown => core::HealthStatus::Unknown,
    }
}

pub(crate) fn log_level_from_wit(l: wit::LogLevel) -> core::LogLevel {
    match l {
        wit::LogLevel::Trace => core::LogLevel::Trace,
        wit::LogLevel::Debug => core::LogLevel::Debug,
        wit::LogLevel::Info => core::LogLevel::Info,
        wit::LogLevel::Warn => core::LogLevel::Warn,
        wit::LogLevel::Error => core::LogLevel::Error,
    }
}

pub(crate) fn wasm_error_from_wit(e: wit_errors::WasmError) -> core::WasmError {
    use wit_errors::WasmError as W;
    match e {
        W::ComponentNotFound(s) => core::WasmError::ComponentNotFound(s),
        W::InstantiationFailed(s) => core::WasmError::InstantiationFailed(s),
        W::ExportNotFound(s) => core::WasmError::ExportNotFound(s),
        W::Timeout => core::WasmError::Timeout,
        W::ResourceLimitExceeded(s) => core::WasmError::ResourceLimitExceeded(s),
        W::InvalidComponent(s) => core::WasmError::InvalidComponent(s),
        W::RuntimeError(s) => core::WasmError::RuntimeError(s),
    }
}

pub(crate) fn component_error_from_wit(e: wit_errors::ComponentError) -> core::ComponentError {
    use wit_errors::ComponentError as C;
    match e {
        C::InitializationFailed(s) => core::ComponentError::InitializationFailed(s),
        C::AlreadyInitialized => core::ComponentError::AlreadyInitialized,
        C::NotInitialized => core::ComponentError::NotInitialized,
        C::ShutdownFailed(s) => core::ComponentError::ShutdownFailed(s),
        C::InvalidState(s) => core::ComponentError::InvalidState(s),
    }
}

pub(crate) fn component_error_to_wit(e: core::ComponentError) -> wit_errors::ComponentError {
    use wit_errors::ComponentError as C;
    match e {
        core::ComponentError::InitializationFailed(s) => C::InitializationFailed(s),
        core::ComponentError::AlreadyInitialized => C::AlreadyInitialized,
        core::ComponentError::NotInitialized => C::NotInitialized,
        core::ComponentError::ShutdownFailed(s) => C::ShutdownFailed(s),
        core::ComponentError::InvalidState(s) => C::InvalidState(s),
    }
}

pub(crate) fn messaging_error_to_wit(e: core::MessagingError) -> wit_errors::MessagingError {
    use wit_errors::MessagingError as M;
    match e {
        core::MessagingError::DeliveryFailed(s) => M::DeliveryFailed(s),
        core::MessagingError::CorrelationTimeout(id) => M::CorrelationTimeout(id.into_string()),
        core::MessagingError::InvalidMessage(s) => M::InvalidMessage(s),
        core::MessagingError::QueueFull => M::QueueFull,
        core::MessagingError::TargetNotFound(id) => M::TargetNotFound(id_to_wit(id)),
    }
}

pub(crate) fn storage_error_to_wit(e: core::StorageError) -> wit_errors::StorageError {
    use wit_errors::StorageError as S;
    match e {
        core::StorageError::NotFound(s) => S::NotFound(s),
        core::StorageError::AlreadyExists(s) => S::AlreadyExists(s),
        core::StorageError::QuotaExceeded => S::QuotaExceeded,
        core::StorageError::InvalidKey(s) => S::InvalidKey(s),
        core::StorageError::IoError(s) => S::IoError(s),
    }
}

pub(crate) fn usage_to_wit(u: core::StorageUsage) -> wit_storage::StorageUsage {
    wit_storage::StorageUsage {
        used_bytes: u.used_bytes,
        quota_bytes: u.quota_bytes,
        key_count: u.key_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_guest_ids_are_checked() -> Result<(), core::Error> {
        let id: core::ComponentId = "a/b/c".parse()?;
        assert_eq!(id_from_wit(id_to_wit(id.clone()))?, id);
        let bad = wit::ComponentId {
            namespace: "a".into(),
            name: "b/c".into(),
            instance: "d".into(),
        };
        assert!(id_from_wit(bad).is_err());
        Ok(())
    }

    #[test]
    fn messages_keep_every_field() -> Result<(), core::Error> {
        let msg = core::ComponentMessage {
            sender: "a/b/c".parse()?,
            payload: vec![1, 2, 3],
            metadata: core::MessageMetadata {
                correlation_id: Some(core::CorrelationId::new("42")),
                reply_to: Some("x/y/z".parse()?),
                timestamp: core::Timestamp {
                    seconds: 7,
                    nanoseconds: 9,
                },
                content_type: Some("text/plain".into()),
            },
        };
        let w = message_to_wit(&msg);
        assert_eq!(w.sender.name, "b");
        assert_eq!(w.payload, vec![1, 2, 3]);
        assert_eq!(w.metadata.correlation_id.as_deref(), Some("42"));
        assert_eq!(w.metadata.reply_to.map(|r| r.instance), Some("z".into()));
        assert_eq!(w.metadata.timestamp.nanoseconds, 9);
        assert_eq!(w.metadata.content_type.as_deref(), Some("text/plain"));
        Ok(())
    }
}
