//! The one wasmtime engine of a host: configuration, pooling, the epoch ticker and the linker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::RuntimeHost;
use crate::cache::{CacheStats, ComponentCache};
use crate::capacity::{self, MapBudget};
use crate::error::{Error, Result, boxed};
use crate::loader::ComponentLoader;
use crate::state::ComponentState;

/// How the pooling instance allocator is sized.
///
/// Each slot reserves `max_memory_bytes` of address space (rounded up to whole WebAssembly
/// pages) plus a 2 MiB guard for every memory, and one fiber stack. On Linux an instance
/// costs about six memory-map entries (four with `copy_on_write` off) against the kernel's
/// `vm.max_map_count`: two for its stack slot, mapped when the pool is built, and the rest
/// for its memory while it lives. Building a pool that cannot fit under the limit logs a
/// warning that names the limit and the `sysctl` that raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolingConfig {
    /// Component instances that may be live at once.
    pub max_instances: u32,
    /// The largest linear memory any instance may have, in bytes. Per-component limits are
    /// enforced below this.
    pub max_memory_bytes: u64,
    /// Map each component's initial memory image copy-on-write (`true`): large images
    /// (interpreters built with componentize-py or componentize-js) are shared and paged in
    /// lazily. With `false` the image is copied in at instantiation: small components start
    /// faster and each memory costs two memory-map entries instead of four, the setting for
    /// hosts of many small components.
    pub copy_on_write: bool,
    /// Bytes at the start of each pooled linear memory and table that are reset with
    /// `memset` when an instance ends, and stay resident for the next instance of the slot,
    /// instead of being returned to the kernel with `madvise` (0: always `madvise`). It takes
    /// page faults out of a short-lived instance (an HTTP handler runs one per request), for
    /// up to that much resident memory per slot in use; a large value costs a long `memset`
    /// per instance (1 MiB measured 0.66x the requests per second of none).
    pub keep_resident_bytes: u64,
    /// Slots whose memory is returned to the kernel together, in one batch (1: each at once).
    /// Each `madvise` of a mapped region makes the kernel flush the TLB of every core the
    /// process runs on; batching takes most of those flushes out of instance teardown, and a
    /// slot still waiting in a batch is reclaimed as soon as the pool needs it.
    pub decommit_batch: usize,
}

impl Default for PoolingConfig {
    /// 1000 instances of at most 256 MiB each, images mapped copy-on-write, 64 KiB of each
    /// memory and table kept resident, decommits in batches of 16. (The last two were
    /// measured by the ingress bench's `teardown` lines: with one instance per HTTP request, they
    /// served 1.96x the requests per second of no batching and nothing resident at 64 in
    /// flight, and 1.07x at one in flight.)
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memory_bytes: 256 * 1024 * 1024,
            copy_on_write: true,
            keep_resident_bytes: 64 * 1024,
            decommit_batch: 16,
        }
    }
}

/// The guard region after each pooled linear memory: accesses at a constant offset below it
/// need only one bounds check.
const POOL_MEMORY_GUARD: u64 = 2 * 1024 * 1024;

/// The WebAssembly page size, to which slot reservations are rounded.
const WASM_PAGE: u64 = 64 * 1024;

/// Settings of a [`WasmEngine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Pooling instance allocator, or `None` for on-demand allocation. If the pool cannot be
    /// reserved on this machine, the engine falls back to on-demand allocation with a warning.
    pub pooling: Option<PoolingConfig>,
    /// How often the epoch advances: the granularity of CPU deadlines.
    pub epoch_tick: Duration,
    /// Meter fuel, so components' `max-fuel` limits apply.
    pub fuel: bool,
    /// Where compiled components are cached on disk, so a second start skips compilation.
    pub cache_dir: Option<PathBuf>,
    /// The largest WebAssembly stack a call may use, in bytes.
    pub max_wasm_stack: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            pooling: Some(PoolingConfig::default()),
            epoch_tick: Duration::from_millis(5),
            fuel: false,
            cache_dir: None,
            max_wasm_stack: 512 * 1024,
        }
    }
}

/// The wasmtime engine of a host, with its linker, compiled-component cache and epoch ticker.
///
/// Cheap to clone: clones share one engine. The epoch ticker stops when the last clone drops.
///
/// # Examples
///
/// ```no_run
/// use wasm_runtime::{EngineConfig, WasmEngine};
///
/// let engine = WasmEngine::new(EngineConfig::default())?;
/// let component = engine.loader().load_file("echo.wasm".as_ref())?;
/// # Ok::<(), wasm_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WasmEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<ComponentState>,
    cache: ComponentCache,
    config: EngineConfig,
    pooling_active: bool,
    /// Held for its `Drop`, which stops the ticker thread.
    _ticker: Ticker,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("config", &self.config)
            .field("pooling_active", &self.pooling_active)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Builds the engine, its linker (WASI 0.2 and the airssys host interfaces) and starts the
    /// epoch ticker.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if wasmtime rejects the configuration or the linker cannot be built.
    pub fn new(config: EngineConfig) -> Result<Self> {
        let (engine, pooling_active) = build_engine(&config)?;
        let linker = build_linker(&engine)?;
        let cache = ComponentCache::new(config.cache_dir.clone(), &engine);
        let ticker = Ticker::start(&engine, config.epoch_tick);
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                config,
                pooling_active,
                _ticker: ticker,
            }),
        })
    }

    /// A loader that compiles components on this engine.
    pub fn loader(&self) -> ComponentLoader {
        ComponentLoader::new(self.clone())
    }

    /// The settings the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Whether the pooling allocator is in use (it may have fallen back to on-demand).
    pub fn pooling_active(&self) -> bool {
        self.inner.pooling_active
    }

    /// Why `limits` cannot be applied on this engine, or `None` if they can: fuel limits
    /// need fuel metering, times must be above zero, and memory must fit the pool's slots.
    /// Starting a component with such limits fails; a host checks its defaults up front.
    pub fn limits_problem(&self, limits: &wasm_core::ResourceLimits) -> Option<String> {
        if limits.max_fuel.is_some() && !self.inner.config.fuel {
            return Some(
                "max-fuel is set but the engine does not meter fuel (EngineConfig::fuel)".into(),
            );
        }
        if limits.max_execution_time_ms == 0 {
            return Some("max-execution-time-ms must be above zero".into());
        }
        if limits.max_wall_time_ms == 0 {
            return Some("max-wall-time-ms must be above zero".into());
        }
        if let (true, Some(pool)) = (self.inner.pooling_active, self.inner.config.pooling)
            && limits.max_memory_bytes > pool.max_memory_bytes
        {
            return Some(format!(
                "max-memory-bytes {} exceeds the pooling allocator's max-memory-bytes of {} \
                 (PoolingConfig::max_memory_bytes): raise the pool's or lower the limit",
                limits.max_memory_bytes, pool.max_memory_bytes
            ));
        }
        None
    }

    /// Counters of the compiled-component cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Epoch ticks that make up `ms` milliseconds of execution time (at least one).
    pub(crate) fn ticks_for(&self, ms: u64) -> u64 {
        let tick = self.inner.config.epoch_tick.as_millis().max(1);
        let tick = u64::try_from(tick).unwrap_or(u64::MAX);
        ms.div_ceil(tick).max(1)
    }

    /// The pool in use, if the pooling allocator is active.
    pub(crate) fn active_pool(&self) -> Option<&PoolingConfig> {
        self.inner
            .config
            .pooling
            .as_ref()
            .filter(|_| self.inner.pooling_active)
    }

    pub(crate) fn wasmtime(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<ComponentState> {
        &self.inner.linker
    }

    pub(crate) fn cache(&self) -> &ComponentCache {
        &self.inner.cache
    }
}

fn base_config(config: &EngineConfig) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.consume_fuel(config.fuel);
    c.max_wasm_stack(config.max_wasm_stack);
    // Fiber stacks must hold the wasm stack plus host frames.
    c.async_stack_size(config.max_wasm_stack + 1024 * 1024);
    c
}

fn build_engine(config: &EngineConfig) -> Result<(Engine, bool)> {
    if let Some(pool) = config.pooling {
        let mut c = base_config(config);
        // Slots sized from the limit, not wasmtime's 4 GiB default: 100,000 slots of 4 GiB
        // would not fit the address space.
        let reservation = pool.max_memory_bytes.max(WASM_PAGE).div_ceil(WASM_PAGE) * WASM_PAGE;
        c.memory_reservation(reservation)
            .memory_guard_size(POOL_MEMORY_GUARD)
            .memory_init_cow(pool.copy_on_write)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(pool)));
        let before = MapBudget::read();
        match Engine::new(&c) {
            Ok(engine) => {
                // Read again: the pool's stack slots are mapped now and count as in use.
                let after = MapBudget::read();
                if let Some(warning) = after.and_then(|b| capacity::pool_warning(&pool, &b)) {
                    tracing::warn!("{warning}");
                }
                return Ok((engine, true));
            }
            Err(e) => match before.and_then(|b| capacity::pool_failure(&pool, &b)) {
                Some(why) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "cannot reserve the instance pool: {why}; falling back to on-demand \
                     allocation"
                ),
                None => tracing::warn!(
                    error = %format!("{e:#}"),
                    "cannot reserve the instance pool; falling back to on-demand allocation"
                ),
            },
        }
    }
    let engine = Engine::new(&base_config(config)).map_err(|e| Error::Engine {
        detail: "wasmtime rejected the configuration".into(),
        source: boxed(e),
    })?;
    Ok((engine, false))
}

fn pooling(pool: PoolingConfig) -> PoolingAllocationConfig {
    let n = pool.max_instances.max(1);
    let mut p = PoolingAllocationConfig::new();
    p.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(usize::try_from(pool.max_memory_bytes).unwrap_or(usize::MAX));
    let keep = usize::try_from(pool.keep_resident_bytes).unwrap_or(usize::MAX);
    p.linear_memory_keep_resident(keep)
        .table_keep_resident(keep)
        .decommit_batch_size(pool.decommit_batch.max(1));
    p
}

fn build_linker(engine: &Engine) -> Result<Linker<ComponentState>> {
    let mut linker = Linker::new(engine);
    let fail = |what: &str, e: wasmtime::Error| Error::Engine {
        detail: format!("cannot add {what} to the linker"),
        source: boxed(e),
    };
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| fail("WASI 0.2", e))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| fail("wasi:http (outgoing)", e))?;
    crate::lookup::add_to_linker(&mut linker)
        .map_err(|e| fail("the audited WASI name lookup", e))?;
    RuntimeHost::add_to_linker::<_, HasSelf<ComponentState>>(&mut linker, |state| state)
        .map_err(|e| fail("the airssys host interfaces", e))?;
    crate::bindings::calling::Calling::add_to_linker::<_, HasSelf<ComponentState>>(
        &mut linker,
        |state| state,
    )
    .map_err(|e| fail("airssys:core/calls@1.1.0", e))?;
    Ok(linker)
}

/// Advances the engine's epoch on a timer, so CPU deadlines fire.
#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("airssys-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            });
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the epoch ticker; CPU deadlines will not fire");
                None
            }
        };
        Self {
            stop,
            thread: Mutex::new(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }
}
