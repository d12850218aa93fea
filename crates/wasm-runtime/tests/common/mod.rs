//! Helpers shared by the runtime's integration tests: real fixtures on a real engine.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use test_fixtures::fixture;
use wasm_core::{
    ComponentConfig, ComponentId, ComponentMessage, CorrelationId, MessageMetadata, MessagePayload,
    MessageRouter, MessagingError, ResourceLimits,
};
use wasm_runtime::{
    ComponentInstance, EngineConfig, HostServices, InstanceSpec, LoadedComponent, WasmEngine,
};
use wasm_security::{CapabilitySet, Grants};

pub fn engine() -> WasmEngine {
    WasmEngine::new(EngineConfig::default()).expect("engine")
}

pub fn id(text: &str) -> ComponentId {
    text.parse().expect("component id")
}

pub fn load(engine: &WasmEngine, name: &str) -> LoadedComponent {
    engine
        .loader()
        .load_bytes(name, &fixture(name))
        .unwrap_or_else(|e| panic!("loading fixture {name}: {e}"))
}

pub fn limits() -> ResourceLimits {
    ResourceLimits {
        max_memory_bytes: 32 * 1024 * 1024,
        max_execution_time_ms: 2_000,
        max_wall_time_ms: 2_000,
        max_fuel: None,
    }
}

/// Instantiates and initializes a fixture.
pub async fn start_with(
    engine: &WasmEngine,
    name: &str,
    component_id: &str,
    grants: &Grants,
    services: HostServices,
    limits: ResourceLimits,
    config: ComponentConfig,
) -> ComponentInstance {
    let loaded = load(engine, name);
    let capabilities = Arc::new(CapabilitySet::compile(id(component_id), grants).expect("grants"));
    let spec = InstanceSpec {
        capabilities,
        services,
        limits,
    };
    let mut instance = ComponentInstance::instantiate(engine, &loaded, spec)
        .await
        .unwrap_or_else(|e| panic!("instantiating {name}: {e}"));
    instance
        .initialize(&config)
        .await
        .expect("initialize call")
        .expect("initialize result");
    instance
}

pub async fn start(
    engine: &WasmEngine,
    name: &str,
    grants: &Grants,
    services: HostServices,
) -> ComponentInstance {
    let component_id = format!("test/{name}/1");
    start_with(
        engine,
        name,
        &component_id,
        grants,
        services,
        limits(),
        ComponentConfig::default(),
    )
    .await
}

/// Starts fixture `name` with no grants and standalone services.
pub async fn start_plain(engine: &WasmEngine, name: &str) -> ComponentInstance {
    start(engine, name, &Grants::default(), HostServices::standalone()).await
}

pub fn message(payload: &[u8]) -> ComponentMessage {
    ComponentMessage {
        sender: id("host/test/0"),
        payload: payload.to_vec(),
        metadata: MessageMetadata::default(),
    }
}

/// Sends a text command and returns the text reply.
pub async fn ask(instance: &mut ComponentInstance, command: &str) -> String {
    let reply = instance
        .handle_message(&message(command.as_bytes()))
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
        .unwrap_or_else(|e| panic!("{command}: component error {e}"));
    String::from_utf8(reply.unwrap_or_default()).expect("utf-8 reply")
}

/// What a recording router saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    Send(ComponentId, ComponentId, MessagePayload),
    Request(ComponentId, ComponentId, MessagePayload, Duration),
    Cancel(ComponentId, CorrelationId),
    Broadcast(ComponentId, Vec<ComponentId>, MessagePayload),
}

/// A router that records every call and accepts them (a mock for this layer's unit tests).
#[derive(Debug, Default)]
pub struct RecordingRouter {
    pub calls: Mutex<Vec<Routed>>,
}

impl RecordingRouter {
    pub fn calls(&self) -> Vec<Routed> {
        self.calls.lock().clone()
    }
}

impl MessageRouter for RecordingRouter {
    fn send(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
    ) -> wasm_core::Routed<()> {
        self.calls
            .lock()
            .push(Routed::Send(from.clone(), to.clone(), payload));
        Ok(()).into()
    }

    fn request(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> wasm_core::Routed<CorrelationId> {
        self.calls
            .lock()
            .push(Routed::Request(from.clone(), to.clone(), payload, timeout));
        Ok(CorrelationId::new("corr-1")).into()
    }

    fn cancel_request(&self, from: &ComponentId, id: &CorrelationId) -> Result<(), MessagingError> {
        self.calls
            .lock()
            .push(Routed::Cancel(from.clone(), id.clone()));
        Ok(())
    }

    fn broadcast(
        &self,
        from: &ComponentId,
        targets: &[ComponentId],
        payload: MessagePayload,
    ) -> wasm_core::Routed<()> {
        self.calls
            .lock()
            .push(Routed::Broadcast(from.clone(), targets.to_vec(), payload));
        Ok(()).into()
    }
}

/// Every `tracing` event emitted on this thread while the guard lives, one line each:
/// `LEVEL field=value ... message`.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

struct LineVisitor(String);

impl tracing::field::Visit for LineVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value}"));
        } else {
            self.0.push_str(&format!(" {}=\"{value}\"", field.name()));
        }
    }
}

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut visitor = LineVisitor(event.metadata().level().to_string());
        event.record(&mut visitor);
        self.0.lock().push(visitor.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

impl Captured {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.clone())
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}
