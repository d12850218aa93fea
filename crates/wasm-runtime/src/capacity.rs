//! What bounds the number of live instances on this machine: the pool's slots and the
//! kernel's limit on memory mappings (`vm.max_map_count`), and what to say when one of them is
//! the wall.
//!
//! The pooling allocator costs map entries in two places:
//! - each fiber stack slot is a guard page and a stack (two entries), made when the pool is
//!   created: every store keeps the last stack it ran on, so a live instance holds one;
//! - each live linear memory is an accessible part and the reserved rest of its slot (two
//!   entries), plus two when its initial image is mapped copy-on-write into the middle.

use crate::engine::PoolingConfig;

/// Where Linux keeps the per-process limit on memory mappings.
const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";

/// Map entries of one fiber stack slot: its guard page and the stack.
pub(crate) const STACK_MAPS: u64 = 2;

/// Map entries one live instance's memory costs: accessible part and reserved rest, and two
/// more when a copy-on-write image sits inside the accessible part.
pub(crate) fn memory_maps(pool: &PoolingConfig) -> u64 {
    if pool.copy_on_write { 4 } else { 2 }
}

/// Map entries an on-demand instance costs (measured: a memory reservation split in two, a
/// fiber stack and its guard, and the instance's own allocations).
const ON_DEMAND_MAPS: u64 = 7;

/// The kernel's limit on this process's memory mappings and how many are in use now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapBudget {
    /// `vm.max_map_count`.
    pub limit: u64,
    /// Lines of `/proc/self/maps`.
    pub in_use: u64,
}

impl MapBudget {
    /// The budget now, or `None` where the kernel does not say (not Linux).
    pub(crate) fn read() -> Option<Self> {
        let limit = std::fs::read_to_string(MAX_MAP_COUNT)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let in_use = u64::try_from(maps.lines().count()).ok()?;
        Some(Self { limit, in_use })
    }

    /// Entries still free.
    pub(crate) fn free(&self) -> u64 {
        self.limit.saturating_sub(self.in_use)
    }
}

/// A `vm.max_map_count` that leaves room for `needed` more entries on top of `budget`, with a
/// quarter to spare for everything else the process maps.
fn suggested_limit(budget: &MapBudget, needed: u64) -> u64 {
    let wanted = budget.in_use.saturating_add(needed);
    wanted
        .saturating_add(wanted / 4)
        .max(budget.limit.saturating_mul(2))
}

/// The warning to log when a full pool cannot fit under the kernel's limit: the pool is built
/// (`budget` is read after, with its stack slots in use), but instantiation will fail before
/// the pool is full.
pub(crate) fn pool_warning(pool: &PoolingConfig, budget: &MapBudget) -> Option<String> {
    let per_instance = memory_maps(pool);
    let needed = u64::from(pool.max_instances).saturating_mul(per_instance);
    if needed <= budget.free() {
        return None;
    }
    let fits = budget.free() / per_instance.max(1);
    Some(format!(
        "a full pool of {} instances needs about {needed} more memory-map entries ({per_instance} \
         per live instance{}), but vm.max_map_count is {} with {} in use: about {fits} instances \
         will start before instantiation fails; raise the limit with \
         `sysctl -w vm.max_map_count={}`",
        pool.max_instances,
        if pool.copy_on_write {
            "; 2 with PoolingConfig::copy_on_write off"
        } else {
            ""
        },
        budget.limit,
        budget.in_use,
        suggested_limit(budget, needed),
    ))
}

/// Why making the pool failed, when the kernel's map limit is the cause.
pub(crate) fn pool_failure(pool: &PoolingConfig, budget: &MapBudget) -> Option<String> {
    let stacks = u64::from(pool.max_instances).saturating_mul(STACK_MAPS);
    (stacks >= budget.free()).then(|| {
        format!(
            "the pool's {} fiber stacks need {stacks} memory-map entries, but vm.max_map_count \
             is {} with {} in use; raise the limit with `sysctl -w vm.max_map_count={}`",
            pool.max_instances,
            budget.limit,
            budget.in_use,
            suggested_limit(
                budget,
                stacks.saturating_add(u64::from(pool.max_instances) * memory_maps(pool))
            ),
        )
    })
}

/// What stopped an instantiation, when it is the host's capacity rather than the component:
/// the pool is full, or the kernel's map limit is reached. `None` for any other failure.
pub(crate) fn explain(error: &wasmtime::Error, pool: Option<&PoolingConfig>) -> Option<String> {
    if let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        let slots = pool.map_or_else(String::new, |p| {
            format!(" (PoolingConfig::max_instances is {})", p.max_instances)
        });
        return Some(format!(
            "the instance pool is full{slots}: {full}; stop a component or give the host a \
             larger pool"
        ));
    }
    let out_of_memory = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            == Some(12)
            || cause.to_string().contains("Cannot allocate memory")
    });
    if !out_of_memory {
        return None;
    }
    let budget = MapBudget::read()?;
    // Near the limit, ENOMEM from mmap or mprotect is the map count, not a lack of memory.
    let per_instance = pool.map_or(ON_DEMAND_MAPS, memory_maps);
    if budget.free() > per_instance.saturating_mul(16) {
        // On demand, each memory reserves 4 GiB of address space: some 32,000 exhaust a
        // 47-bit address space long before memory or the map limit run out.
        return pool.is_none().then(|| {
            "the process cannot reserve more address space: on-demand allocation reserves \
             4 GiB for each linear memory, so about 32,000 instances fill the address space; \
             use the pooling allocator (EngineConfig::pooling), whose slots are sized from \
             its max_memory_bytes"
                .to_owned()
        });
    }
    Some(format!(
        "the kernel's limit on memory mappings is reached: {} of vm.max_map_count = {} are in \
         use, and an instance needs about {per_instance}; raise the limit with \
         `sysctl -w vm.max_map_count={}`",
        budget.in_use,
        budget.limit,
        suggested_limit(&budget, budget.limit),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pool(max_instances: u32, copy_on_write: bool) -> PoolingConfig {
        PoolingConfig {
            max_instances,
            copy_on_write,
            ..PoolingConfig::default()
        }
    }

    #[test]
    fn a_pool_under_the_limit_gets_no_warning() {
        let budget = MapBudget {
            limit: 65_530,
            in_use: 500,
        };
        assert_eq!(pool_warning(&pool(1_000, true), &budget), None);
        assert_eq!(pool_failure(&pool(1_000, true), &budget), None);
    }

    #[test]
    fn a_pool_over_the_limit_is_told_with_the_numbers_and_the_sysctl() {
        let budget = MapBudget {
            limit: 65_530,
            in_use: 20_530,
        };
        let warning = pool_warning(&pool(100_000, false), &budget).unwrap();
        assert!(warning.contains("200000 more"), "{warning}");
        assert!(
            warning.contains("vm.max_map_count is 65530 with 20530 in use"),
            "{warning}"
        );
        assert!(warning.contains("about 22500 instances"), "{warning}");
        assert!(
            warning.contains("sysctl -w vm.max_map_count=275662"),
            "{warning}"
        );
        let cow = pool_warning(&pool(100_000, true), &budget).unwrap();
        assert!(cow.contains("4 per live instance; 2 with"), "{cow}");
        let failure = pool_failure(&pool(100_000, false), &budget).unwrap();
        assert!(
            failure.contains("100000 fiber stacks need 200000"),
            "{failure}"
        );
    }

    #[test]
    fn the_suggestion_at_least_doubles_the_limit() {
        let budget = MapBudget {
            limit: 65_530,
            in_use: 65_000,
        };
        assert_eq!(suggested_limit(&budget, 10), 131_060);
    }

    #[test]
    fn other_failures_are_not_explained_as_capacity() {
        let error = wasmtime::Error::msg("unreachable executed");
        assert_eq!(explain(&error, None), None);
    }
}
