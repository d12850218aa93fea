//! Per-instance memory and table limits, and the classification of call failures.

use wasmtime::{ResourceLimiter, Trap};

use crate::error::Limit;

/// The most table elements one table may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Enforces the memory limit of one instance and remembers which limit stopped a call.
#[derive(Debug)]
pub(crate) struct Limiter {
    max_memory_bytes: usize,
    hit: Option<(Limit, String)>,
}

impl Limiter {
    pub(crate) fn new(max_memory_bytes: u64) -> Self {
        Self {
            max_memory_bytes: usize::try_from(max_memory_bytes).unwrap_or(usize::MAX),
            hit: None,
        }
    }

    /// Whether a limit was recorded and not yet taken.
    pub(crate) fn has_hit(&self) -> bool {
        self.hit.is_some()
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
        if desired > self.max_memory_bytes {
            let detail = format!(
                "linear memory of {current} bytes asked to grow to {desired} bytes, the limit is {} bytes",
                self.max_memory_bytes
            );
            self.hit = Some((Limit::Memory, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            let detail = format!(
                "table of {current} elements asked to grow to {desired}, the limit is {MAX_TABLE_ELEMENTS}"
            );
            self.hit = Some((Limit::Table, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
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
