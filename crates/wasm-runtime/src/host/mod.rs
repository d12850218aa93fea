//! Host functions, one file per WIT interface. Each checks capabilities first; a denial is a
//! WIT error the guest sees, and is audited. A trap is only for a broken host invariant.

mod calls;
mod messaging;
mod services;
mod storage;
