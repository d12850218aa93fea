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

/// The largest payload buffer a [`MessageScratch`] keeps between calls; a larger one is freed
/// after its call, so one huge message does not pin its memory to the instance.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

/// A message in the generated type, reused from call to call: its strings and payload buffer
/// keep their capacity, so passing a message to the guest allocates nothing once warm. The
/// caller keeps its original message (for example to report it as a dead letter).
#[derive(Debug)]
pub(crate) struct MessageScratch(wit::ComponentMessage);

impl Default for MessageScratch {
    fn default() -> Self {
        let id = || wit::ComponentId {
            namespace: String::new(),
            name: String::new(),
            instance: String::new(),
        };
        Self(wit::ComponentMessage {
            sender: id(),
            payload: Vec::new(),
            metadata: wit::MessageMetadata {
                correlation_id: None,
                reply_to: None,
                timestamp: wit::Timestamp {
                    seconds: 0,
                    nanoseconds: 0,
                },
                content_type: None,
            },
        })
    }
}

impl MessageScratch {
    /// Copies `msg` in and returns it in the generated type.
    pub(crate) fn fill(&mut self, msg: &core::ComponentMessage) -> &wit::ComponentMessage {
        let out = &mut self.0;
        let meta = &msg.metadata;
        set_id(&mut out.sender, &msg.sender);
        out.payload.clear();
        out.payload.extend_from_slice(&msg.payload);
        set_opt(
            &mut out.metadata.correlation_id,
            meta.correlation_id.as_ref().map(|c| c.as_str()),
        );
        match &meta.reply_to {
            Some(id) => {
                let reply_to = out
                    .metadata
                    .reply_to
                    .get_or_insert_with(|| wit::ComponentId {
                        namespace: String::new(),
                        name: String::new(),
                        instance: String::new(),
                    });
                set_id(reply_to, id);
            }
            None => out.metadata.reply_to = None,
        }
        out.metadata.timestamp = timestamp_to_wit(meta.timestamp);
        set_opt(&mut out.metadata.content_type, meta.content_type.as_deref());
        out
    }

    /// After a call: frees a payload buffer too large to keep.
    pub(crate) fn trim(&mut self) {
        if self.0.payload.capacity() > SCRATCH_KEEP_BYTES {
            self.0.payload = Vec::new();
        }
    }
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match src {
        Some(src) => set(dst.get_or_insert_with(String::new), src),
        None => *dst = None,
    }
}

fn set_id(dst: &mut wit::ComponentId, src: &core::ComponentId) {
    set(&mut dst.namespace, src.namespace());
    set(&mut dst.name, src.name());
    set(&mut dst.instance, src.instance());
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
                trace: None,
            },
        };
        let mut scratch = MessageScratch::default();
        let w = scratch.fill(&msg);
        assert_eq!(w.sender.name, "b");
        assert_eq!(w.payload, vec![1, 2, 3]);
        assert_eq!(w.metadata.correlation_id.as_deref(), Some("42"));
        assert_eq!(
            w.metadata.reply_to.as_ref().map(|r| r.instance.as_str()),
            Some("z")
        );
        assert_eq!(w.metadata.timestamp.nanoseconds, 9);
        assert_eq!(w.metadata.content_type.as_deref(), Some("text/plain"));
        // Reused: every field is overwritten, absent ones cleared, nothing left over.
        let other = core::ComponentMessage {
            sender: "longer-namespace/n/1".parse()?,
            payload: vec![9],
            metadata: core::MessageMetadata::default(),
        };
        let w = scratch.fill(&other);
        assert_eq!(
            (w.sender.namespace.as_str(), w.sender.name.as_str()),
            ("longer-namespace", "n")
        );
        assert_eq!(w.payload, vec![9]);
        assert_eq!(w.metadata.correlation_id, None);
        assert!(w.metadata.reply_to.is_none());
        assert_eq!(w.metadata.content_type, None);
        // A huge payload's buffer is not kept after the call.
        let huge = core::ComponentMessage {
            payload: vec![0; 1 << 20],
            ..other
        };
        scratch.fill(&huge);
        scratch.trim();
        assert_eq!(scratch.0.payload.capacity(), 0);
        Ok(())
    }
}
