//! Component configuration and resource limits.

/// Limits the host enforces on one component instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Cap on linear memory, in bytes.
    pub max_memory_bytes: u64,
    /// CPU deadline of one call into the component, in milliseconds: the time the guest spends
    /// running (epoch deadline). Time it spends suspended in a host call such as `sleep-millis`
    /// counts against [`ResourceLimits::max_wall_time_ms`] only.
    pub max_execution_time_ms: u64,
    /// Wall-clock cap of one call into the component, in milliseconds, suspended time included.
    pub max_wall_time_ms: u64,
    /// Cap on the fuel (roughly, instructions) one call may use; `None` for no fuel metering.
    pub max_fuel: Option<u64>,
}

impl Default for ResourceLimits {
    /// 64 MiB of memory, one second of CPU and five of wall-clock time per call, no fuel
    /// metering.
    fn default() -> Self {
        Self {
            max_memory_bytes: 64 * 1024 * 1024,
            max_execution_time_ms: 1_000,
            max_wall_time_ms: 5_000,
            max_fuel: None,
        }
    }
}

/// What a component receives in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentConfig {
    /// Environment variables the host granted.
    pub env_vars: Vec<(String, String)>,
    /// Free-form configuration from the manifest or the embedder.
    pub config_data: Option<Vec<u8>>,
    /// The limits in force for this instance.
    pub resource_limits: ResourceLimits,
}
