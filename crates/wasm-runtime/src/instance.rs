//! A live component instance: typed calls to every export, each under the instance's limits.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_core::{
    ComponentConfig, ComponentError, ComponentId, ComponentMessage, ComponentMetadata,
    HealthStatus, ResourceLimits, WasmError,
};
use wasm_security::CapabilitySet;
use wasmtime::Store;
use wasmtime::component::{Instance, ResourceTable};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::{RuntimeHost, lifecycle};
use crate::capacity;
use crate::convert::{
    MessageScratch, component_error_from_wit, config_to_wit, health_from_wit, metadata_from_wit,
    wasm_error_from_wit,
};
use crate::cpu::CpuMeter;
use crate::engine::WasmEngine;
use crate::error::{Error, Result, boxed};
use crate::handoff::HandoffExports;
use crate::http::HttpGate;
use crate::limits::{Failure, Limiter, classify};
use crate::loader::LoadedComponent;
use crate::services::HostServices;
use crate::state::ComponentState;
use crate::wasi::{self, StderrTail};

/// What an instance is made of besides its component.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// The compiled grants; they also name the component.
    pub capabilities: Arc<CapabilitySet>,
    /// The services its host functions reach.
    pub services: HostServices,
    /// Memory, time and fuel limits.
    pub limits: ResourceLimits,
}

/// What an instance has used so far: read after each call, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceUsage {
    /// Wall-clock time of the last call (the guest's own and its host calls'), from its
    /// start to its return.
    pub last_call: Duration,
    /// The guest's running time over every call of this instance (suspended time in async
    /// host calls excluded).
    pub cpu_time: Duration,
    /// Bytes of the instance's linear memories now.
    pub memory_bytes: u64,
}

/// One instantiated component with its own store.
///
/// Every call runs under the instance's limits: a CPU deadline (epochs), a wall-clock timeout,
/// the memory limit and, if set, fuel. A call that traps, hits a limit or times out poisons
/// the instance: its state may be inconsistent, so every later call fails with
/// [`Error::Poisoned`] and the owner re-instantiates from the [`LoadedComponent`].
pub struct ComponentInstance {
    runner: Runner,
    guest: RuntimeHost,
    scratch: MessageScratch,
    /// The wasmtime instance, for the optional exports bindgen does not know.
    instance: Instance,
    handoff: Option<HandoffExports>,
}

/// The store and the bookkeeping around each call.
pub(crate) struct Runner {
    pub(crate) id: ComponentId,
    pub(crate) store: Store<ComponentState>,
    pub(crate) limits: ResourceLimits,
    pub(crate) epoch_ticks: u64,
    pub(crate) meter: Arc<CpuMeter>,
    pub(crate) fuel: bool,
    pub(crate) poisoned: Option<String>,
    /// Wall-clock time of the last call.
    pub(crate) last_call: Duration,
    /// Guest running time over every call so far.
    pub(crate) cpu_time: Duration,
}

impl fmt::Debug for ComponentInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentInstance")
            .field("id", &self.runner.id)
            .field("limits", &self.runner.limits)
            .field("poisoned", &self.runner.poisoned)
            .finish_non_exhaustive()
    }
}

impl ComponentInstance {
    /// Instantiates `component` with a fresh store built from `spec`.
    ///
    /// # Errors
    ///
    /// [`Error::Grants`] if the grants cannot be applied (a preopen that does not exist);
    /// [`Error::Limits`] if the limits cannot (fuel on an engine without fuel metering,
    /// memory above the pool's slot size, see [`WasmEngine::limits_problem`]);
    /// [`Error::Capacity`] if the pool is full or the kernel's map limit is reached;
    /// [`Error::Instantiate`], [`Error::LimitExceeded`] or [`Error::Timeout`] if instantiation
    /// fails otherwise.
    pub async fn instantiate(
        engine: &WasmEngine,
        component: &LoadedComponent,
        spec: InstanceSpec,
    ) -> Result<Self> {
        let mut runner = Runner::new(engine, spec)?;
        let (started, timeout) = runner.begin(runner.call_timeout())?;
        let pre = component.pre();
        let store = &mut runner.store;
        let call = async {
            let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
            let guest = component.indices().load(&mut *store, &instance)?;
            Ok((instance, guest))
        };
        let outcome = runner.meter.metered(call, started, timeout).await;
        let (instance, guest) = match outcome {
            Some(Err(e)) => return Err(runner.instantiate_failure(engine, e)),
            other => runner.complete("instantiate", timeout, other).await?,
        };
        Ok(Self {
            runner,
            guest,
            scratch: MessageScratch::default(),
            instance,
            handoff: component.handoff(),
        })
    }

    /// The component's id.
    pub fn id(&self) -> &ComponentId {
        &self.runner.id
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &ResourceLimits {
        &self.runner.limits
    }

    /// What the instance has used so far (see [`InstanceUsage`]); cheap.
    pub fn usage(&self) -> InstanceUsage {
        InstanceUsage {
            last_call: self.runner.last_call,
            cpu_time: self.runner.cpu_time,
            memory_bytes: u64::try_from(self.runner.store.data().limiter.memory_bytes())
                .unwrap_or(u64::MAX),
        }
    }

    /// Why the instance is poisoned, if it is.
    pub fn poisoned(&self) -> Option<&str> {
        self.runner.poisoned.as_deref()
    }

    /// Calls `initialize`.
    ///
    /// # Errors
    ///
    /// A limit, trap or timeout ([`Error::poisons_instance`]), or [`Error::Poisoned`]. The
    /// component's own refusal is the inner `Err`.
    pub async fn initialize(
        &mut self,
        config: &ComponentConfig,
    ) -> Result<Result<(), ComponentError>> {
        let config = config_to_wit(config);
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let call = lifecycle(&self.guest).call_initialize(&mut self.runner.store, &config);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        let result = self.runner.complete("initialize", timeout, outcome).await?;
        Ok(result.map_err(component_error_from_wit))
    }

    /// Calls `handle-message`. For a request, `Ok(Ok(reply))` is the reply.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`].
    pub async fn handle_message(
        &mut self,
        message: &ComponentMessage,
    ) -> Result<Result<Option<Vec<u8>>, WasmError>> {
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let message = self.scratch.fill(message);
        let call = lifecycle(&self.guest).call_handle_message(&mut self.runner.store, message);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        self.scratch.trim();
        let result = self
            .runner
            .complete("handle-message", timeout, outcome)
            .await?;
        Ok(result.map_err(wasm_error_from_wit))
    }

    /// Calls `handle-callback` with a reply or error callback.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`].
    pub async fn handle_callback(
        &mut self,
        message: &ComponentMessage,
    ) -> Result<Result<(), WasmError>> {
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let message = self.scratch.fill(message);
        let call = lifecycle(&self.guest).call_handle_callback(&mut self.runner.store, message);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        self.scratch.trim();
        let result = self
            .runner
            .complete("handle-callback", timeout, outcome)
            .await?;
        Ok(result.map_err(wasm_error_from_wit))
    }

    /// Whether this instance exports the state hand-off ([`crate::HANDOFF_EXPORT`]).
    pub fn hands_off_state(&self) -> bool {
        self.handoff.is_some()
    }

    /// Calls the hand-off's `save`: the state for the next version; `None` if the component
    /// does not export the hand-off.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`], and [`Error::Instantiate`] if `save` does not
    /// have the contract's type.
    pub async fn save_state(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(handoff) = self.handoff else {
            return Ok(None);
        };
        let func = self
            .instance
            .get_typed_func::<(), (Vec<u8>,)>(&mut self.runner.store, handoff.save)
            .map_err(|e| self.runner.mismatch("save", e))?;
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let store = &mut self.runner.store;
        let call = async {
            let (state,) = func.call_async(&mut *store, ()).await?;
            Ok(state)
        };
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        Ok(Some(self.runner.complete("save", timeout, outcome).await?))
    }

    /// Calls the hand-off's `restore` with what the previous version (`from_version`)
    /// saved; `None` if the component does not export the hand-off. The component's refusal
    /// is the inner `Err`.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::save_state`].
    pub async fn restore_state(
        &mut self,
        state: &[u8],
        from_version: &str,
    ) -> Result<Option<Result<(), String>>> {
        let Some(handoff) = self.handoff else {
            return Ok(None);
        };
        let func = self
            .instance
            .get_typed_func::<(&[u8], &str), (Result<(), String>,)>(
                &mut self.runner.store,
                handoff.restore,
            )
            .map_err(|e| self.runner.mismatch("restore", e))?;
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let store = &mut self.runner.store;
        let call = async {
            let (refused,) = func.call_async(&mut *store, (state, from_version)).await?;
            Ok(refused)
        };
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        Ok(Some(
            self.runner.complete("restore", timeout, outcome).await?,
        ))
    }

    /// Calls `metadata`.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`].
    pub async fn metadata(&mut self) -> Result<ComponentMetadata> {
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let call = lifecycle(&self.guest).call_metadata(&mut self.runner.store);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        Ok(metadata_from_wit(
            self.runner.complete("metadata", timeout, outcome).await?,
        ))
    }

    /// Calls `health`.
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`].
    pub async fn health(&mut self) -> Result<HealthStatus> {
        let (started, timeout) = self.runner.begin(self.runner.call_timeout())?;
        let call = lifecycle(&self.guest).call_health(&mut self.runner.store);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        Ok(health_from_wit(
            self.runner.complete("health", timeout, outcome).await?,
        ))
    }

    /// Calls `shutdown`, waiting at most `deadline` (and at most the per-call limit).
    ///
    /// # Errors
    ///
    /// As [`ComponentInstance::initialize`].
    pub async fn shutdown(&mut self, deadline: Duration) -> Result<Result<(), ComponentError>> {
        let (started, timeout) = self
            .runner
            .begin(deadline.min(self.runner.call_timeout()))?;
        let call = lifecycle(&self.guest).call_shutdown(&mut self.runner.store);
        let outcome = self.runner.meter.metered(call, started, timeout).await;
        let result = self.runner.complete("shutdown", timeout, outcome).await?;
        Ok(result.map_err(component_error_from_wit))
    }
}

fn lifecycle(guest: &RuntimeHost) -> &lifecycle::Guest {
    guest.airssys_core_component_lifecycle()
}

impl Runner {
    /// A fresh store for one instance of `spec`: its WASI context, host state, memory limiter
    /// and CPU meter, with nothing instantiated yet.
    pub(crate) fn new(engine: &WasmEngine, spec: InstanceSpec) -> Result<Self> {
        let InstanceSpec {
            capabilities,
            services,
            limits,
        } = spec;
        let id = capabilities.component().clone();
        check_limits(engine, &id, &limits)?;
        let stderr = StderrTail::default();
        let wasi = wasi::build(&capabilities, &services.audit, &stderr)?;
        let meter = CpuMeter::new(
            Duration::from_millis(limits.max_execution_time_ms),
            engine.config().epoch_tick,
        );
        let http_gate = HttpGate::new(Arc::clone(&capabilities), Arc::clone(&services.audit));
        let state = ComponentState {
            id: id.clone(),
            caps: capabilities,
            services,
            wasi,
            http: WasiHttpCtx::new(),
            http_gate,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.max_memory_bytes),
            stderr,
            meter: Arc::clone(&meter),
            txn: None,
            trace: None,
        };
        let mut store = Store::new(engine.wasmtime(), state);
        store.limiter(|state| &mut state.limiter);
        let on_deadline = Arc::clone(&meter);
        store.epoch_deadline_callback(move |mut ctx| {
            Ok(on_deadline.on_deadline(&mut ctx.data_mut().limiter))
        });
        Ok(Runner {
            id,
            store,
            limits,
            epoch_ticks: engine.ticks_for(limits.max_execution_time_ms),
            meter,
            fuel: engine.config().fuel,
            poisoned: None,
            last_call: Duration::ZERO,
            cpu_time: Duration::ZERO,
        })
    }

    /// What a failed instantiation is: a limit (deadline, memory, stack), a full pool, or a
    /// failed instantiation.
    pub(crate) fn instantiate_failure(&mut self, engine: &WasmEngine, e: wasmtime::Error) -> Error {
        let hit = self.store.data_mut().limiter.take_hit();
        match classify(&e, hit) {
            Failure::Limit(limit, detail) => Error::LimitExceeded {
                component: self.id.clone(),
                export: "instantiate",
                limit,
                detail,
            },
            Failure::Trap(_) => match capacity::explain(&e, engine.active_pool()) {
                Some(detail) => Error::Capacity {
                    component: self.id.clone(),
                    detail,
                    source: boxed(e),
                },
                None => Error::Instantiate {
                    component: self.id.clone(),
                    source: boxed(e),
                },
            },
        }
    }

    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.max_wall_time_ms)
    }

    /// Refuses calls on a poisoned instance, arms the CPU deadline and fuel, and starts the
    /// call's clock: returns when it started, and the wall-clock `timeout` back.
    pub(crate) fn begin(&mut self, timeout: Duration) -> Result<(Instant, Duration)> {
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned {
                component: self.id.clone(),
                reason: reason.clone(),
            });
        }
        // Writes of a call that never returned (its future was dropped) are not this call's.
        self.store.data_mut().txn = None;
        let started = self.meter.start();
        self.store.set_epoch_deadline(self.epoch_ticks);
        if self.fuel {
            let fuel = self.limits.max_fuel.unwrap_or(u64::MAX);
            self.store.set_fuel(fuel).map_err(|e| Error::Instantiate {
                component: self.id.clone(),
                source: boxed(e),
            })?;
        }
        Ok((started, timeout))
    }

    /// An optional export whose type is not the contract's.
    fn mismatch(&self, export: &str, error: wasmtime::Error) -> Error {
        Error::Instantiate {
            component: self.id.clone(),
            source: boxed(error.context(format!(
                "its `{}` does not match the contract's `{export}`",
                crate::HANDOFF_EXPORT
            ))),
        }
    }

    /// [`Runner::finish`], then the commit of the call's storage writes: the call is done only
    /// once they are durable. A call that failed drops them; a call that wrote nothing commits
    /// nothing. A failed commit poisons the instance, its memory having assumed the writes.
    pub(crate) async fn complete<T>(
        &mut self,
        export: &'static str,
        timeout: Duration,
        outcome: Option<wasmtime::Result<T>>,
    ) -> Result<T> {
        let txn = self.store.data_mut().txn.take();
        let value = self.finish(export, timeout, outcome)?;
        let Some(txn) = txn.filter(|txn| !txn.is_empty()) else {
            return Ok(value);
        };
        let commit = self.store.data().services.storage.commit(txn.into_writes());
        if let Err(error) = commit.await {
            let error = Error::Commit {
                component: self.id.clone(),
                export,
                error,
            };
            self.poisoned = Some(error.to_string());
            tracing::warn!(component = %self.id, error = %error, "storage commit failed; instance poisoned");
            return Err(error);
        }
        Ok(value)
    }

    /// Turns a call's outcome into its value, or a typed error that poisons the instance.
    fn finish<T>(
        &mut self,
        export: &'static str,
        timeout: Duration,
        outcome: Option<wasmtime::Result<T>>,
    ) -> Result<T> {
        let (wall, running) = self.meter.took(Instant::now());
        self.last_call = wall;
        self.cpu_time = self.cpu_time.saturating_add(running);
        let error = match outcome {
            Some(Ok(value)) => return Ok(value),
            Some(Err(e)) => self.failure(export, &e),
            None => Error::Timeout {
                component: self.id.clone(),
                export,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
        };
        self.poisoned = Some(error.to_string());
        tracing::warn!(component = %self.id, error = %error, "component call failed; instance poisoned");
        Err(error)
    }

    fn failure(&mut self, export: &'static str, error: &wasmtime::Error) -> Error {
        let hit = self.store.data_mut().limiter.take_hit();
        match classify(error, hit) {
            Failure::Limit(limit, detail) => Error::LimitExceeded {
                component: self.id.clone(),
                export,
                limit,
                detail,
            },
            Failure::Trap(trap) => {
                let message = match self.store.data().stderr.take() {
                    Some(stderr) => format!("{trap} (guest stderr: {stderr})"),
                    None => trap,
                };
                Error::Trapped {
                    component: self.id.clone(),
                    export,
                    message,
                }
            }
        }
    }
}

fn check_limits(engine: &WasmEngine, id: &ComponentId, limits: &ResourceLimits) -> Result<()> {
    match engine.limits_problem(limits) {
        Some(detail) => Err(Error::Limits {
            component: id.clone(),
            detail,
        }),
        None => Ok(()),
    }
}
