//! Per-instance memory and table limits, and the classification of call failures.

use wasmtime::{ResourceLimiter, Trap};

use crate::error::Limit;

/// The most table elements all tables of one instance may hold together.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Enforces the memory and table limits of one instance and remembers which limit stopped a
/// call.
///
/// The limits hold for the whole instance: a component may have several linear memories (and
/// tables), so the limiter keeps the sum of their sizes. wasmtime asks it before each memory or
/// table is created (growing from 0) and before each growth. A growth that the limiter allowed
/// but that then failed (past the memory's declared maximum) still counts: wasmtime's failure
/// callback cannot be told apart from one for a growth the limiter never saw, and taking back
/// the wrong amount would let a guest loosen its own limit. The count errs on the strict side.
#[derive(Debug)]
pub(crate) struct Limiter {
    max_memory_bytes: usize,
    /// Bytes of all linear memories of the instance.
    memory_bytes: usize,
    /// Elements of all tables of the instance.
    table_elements: usize,
    hit: Option<(Limit, String)>,
}

impl Limiter {
    pub(crate) fn new(max_memory_bytes: u64) -> Self {
        Self {
            max_memory_bytes: usize::try_from(max_memory_bytes).unwrap_or(usize::MAX),
            memory_bytes: 0,
            table_elements: 0,
            hit: None,
        }
    }

    /// Bytes of all linear memories of the instance.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Records that `limit` stopped the current call.
    pub(crate) fn record(&mut self, limit: Limit, detail: String) {
        self.hit = Some((limit, detail));
    }

    /// The limit that stopped the last call, if one did; clears it.
    pub(crate) fn take_hit(&mut self) -> Option<(Limit, String)> {
        self.hit.take()
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory_bytes.saturating_add(growth);
        if total > self.max_memory_bytes {
            let detail = format!(
                "linear memory of {current} bytes asked to grow to {desired} bytes, which makes \
                 {total} bytes for the instance, the limit is {} bytes",
                self.max_memory_bytes
            );
            self.hit = Some((Limit::Memory, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
        self.memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.table_elements.saturating_add(growth);
        if total > MAX_TABLE_ELEMENTS {
            let detail = format!(
                "table of {current} elements asked to grow to {desired}, which makes {total} \
                 elements for the instance, the limit is {MAX_TABLE_ELEMENTS}"
            );
            self.hit = Some((Limit::Table, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
        self.table_elements = total;
        Ok(true)
    }
}

/// What a failed call amounts to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A resource limit stopped it.
    Limit(Limit, String),
    /// Any other trap; the text describes it.
    Trap(String),
}

/// Classifies the error of a failed call. `hit` is what the limiter recorded during the call.
pub(crate) fn classify(error: &wasmtime::Error, hit: Option<(Limit, String)>) -> Failure {
    if let Some((limit, detail)) = hit {
        return Failure::Limit(limit, detail);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            Failure::Limit(Limit::Stack, "the call stack was exhausted".into())
        }
        Some(Trap::Interrupt) => Failure::Limit(
            Limit::CpuTime,
            "the call ran past its execution-time deadline".into(),
        ),
        Some(Trap::OutOfFuel) => Failure::Limit(Limit::Fuel, "all fuel was consumed".into()),
        Some(trap) => Failure::Trap(trap.to_string()),
        None => Failure::Trap(format!("{error:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_growth_past_the_limit_is_refused_and_recorded() {
        let mut limiter = Limiter::new(1024 * 1024);
        assert!(matches!(limiter.memory_growing(0, 65536, None), Ok(true)));
        assert!(limiter.take_hit().is_none());
        assert!(
            limiter
                .memory_growing(65536, 2 * 1024 * 1024, None)
                .is_err()
        );
        let hit = limiter.take_hit();
        assert!(matches!(&hit, Some((Limit::Memory, d)) if d.contains("2097152")));
        assert!(limiter.take_hit().is_none());
    }

    #[test]
    fn the_memory_limit_holds_for_the_sum_of_all_memories() {
        let page = 65536;
        let mut limiter = Limiter::new(4 * page as u64);
        // Two memories of two pages each fit exactly.
        assert!(matches!(
            limiter.memory_growing(0, 2 * page, None),
            Ok(true)
        ));
        assert!(matches!(
            limiter.memory_growing(0, 2 * page, None),
            Ok(true)
        ));
        assert_eq!(limiter.memory_bytes(), 4 * page);
        // A third memory, or one more page in either, does not.
        assert!(limiter.memory_growing(0, page, None).is_err());
        assert!(matches!(limiter.take_hit(), Some((Limit::Memory, d)) if d.contains("327680")));
        assert!(limiter.memory_growing(2 * page, 3 * page, None).is_err());
        assert_eq!(limiter.memory_bytes(), 4 * page);
    }

    #[test]
    fn the_table_limit_holds_for_the_sum_of_all_tables() {
        let mut limiter = Limiter::new(1 << 20);
        let half = MAX_TABLE_ELEMENTS / 2;
        assert!(matches!(limiter.table_growing(0, half, None), Ok(true)));
        assert!(matches!(limiter.table_growing(0, half, None), Ok(true)));
        assert!(limiter.table_growing(0, 1, None).is_err());
        assert!(matches!(limiter.take_hit(), Some((Limit::Table, _))));
    }

    #[test]
    fn traps_are_classified_by_kind() {
        let stack = wasmtime::Error::new(Trap::StackOverflow);
        assert!(matches!(
            classify(&stack, None),
            Failure::Limit(Limit::Stack, _)
        ));
        let epoch = wasmtime::Error::new(Trap::Interrupt);
        assert!(matches!(
            classify(&epoch, None),
            Failure::Limit(Limit::CpuTime, _)
        ));
        let fuel = wasmtime::Error::new(Trap::OutOfFuel);
        assert!(matches!(
            classify(&fuel, None),
            Failure::Limit(Limit::Fuel, _)
        ));
        let unreachable = wasmtime::Error::new(Trap::UnreachableCodeReached);
        assert!(
            matches!(classify(&unreachable, None), Failure::Trap(t) if t.contains("unreachable"))
        );
        let hit = Some((Limit::Memory, "grew".to_owned()));
        assert_eq!(
            classify(&unreachable, hit),
            Failure::Limit(Limit::Memory, "grew".into())
        );
    }
}
