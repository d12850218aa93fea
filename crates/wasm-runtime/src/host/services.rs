//! `airssys:core/host-services`: log, time, sleep, and the component directory.

use std::time::Duration;

use wasm_core::{ComponentError, LogLevel};
use wasm_security::{Capability, Denial};

use crate::bindings::airssys::core::errors::ComponentError as WitComponentError;
use crate::bindings::airssys::core::host_services::Host;
use crate::bindings::wit;
use crate::convert::{
    component_error_to_wit, id_from_wit, id_to_wit, info_to_wit, log_level_from_wit,
    timestamp_to_wit,
};
use crate::state::ComponentState;

/// The longest log message passed on, in bytes; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 16 * 1024;

impl Host for ComponentState {
    fn log(
        &mut self,
        level: wit::LogLevel,
        mut message: String,
        context: Option<Vec<(String, String)>>,
    ) -> wasmtime::Result<()> {
        if message.len() > MAX_LOG_MESSAGE {
            let mut end = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" [cut]");
        }
        // An absent or empty context is left out of the event rather than logged as `[]`.
        let context = context.filter(|c| !c.is_empty());
        let context = context.as_ref().map(tracing::field::debug);
        let id = &self.id;
        match log_level_from_wit(level) {
            LogLevel::Trace => {
                tracing::trace!(target: "airssys::guest", component = %id, context, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "airssys::guest", component = %id, context, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "airssys::guest", component = %id, context, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "airssys::guest", component = %id, context, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "airssys::guest", component = %id, context, "{message}")
            }
        }
        Ok(())
    }

    fn current_time(&mut self) -> wasmtime::Result<wit::Timestamp> {
        Ok(timestamp_to_wit(self.services.clock.now()))
    }

    fn current_time_millis(&mut self) -> wasmtime::Result<u64> {
        Ok(self.services.clock.now().as_millis())
    }

    async fn sleep_millis(&mut self, duration_ms: u64) -> wasmtime::Result<()> {
        // Suspends this component's call only; the per-call timeout still applies.
        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
        Ok(())
    }

    /// Only the components the `discover` grant names; with no such grant, none (and the
    /// refusal is audited once per call).
    fn list_components(&mut self) -> wasmtime::Result<Vec<wit::ComponentId>> {
        if !self.caps.allows_discovery() {
            self.deny(
                Denial {
                    capability: Capability::Discover,
                },
                &"list-components",
            );
            return Ok(Vec::new());
        }
        Ok(self
            .services
            .directory
            .components()
            .into_iter()
            .filter(|id| self.caps.check_discover(id).is_ok())
            .map(id_to_wit)
            .collect())
    }

    fn get_component_metadata(
        &mut self,
        id: wit::ComponentId,
    ) -> wasmtime::Result<Result<wit::ComponentInfo, WitComponentError>> {
        let result = match id_from_wit(id) {
            Err(e) => Err(ComponentError::InvalidState(e.to_string())),
            Ok(id) => match self.caps.check_discover(&id) {
                Err(denial) => Err(ComponentError::InvalidState(self.deny(denial, &id))),
                Ok(()) => self.services.directory.info(&id).ok_or_else(|| {
                    ComponentError::InvalidState(format!("component {id} is not running"))
                }),
            },
        };
        Ok(result.map(info_to_wit).map_err(component_error_to_wit))
    }
}
