//! Durability (issue 12). Minimal module file of the `log` branch: the lead
//! replaces it with the `Durable` engine part when merging.

#[allow(dead_code)] // used by the lead's `Durable` engine part
pub(crate) mod device;
#[allow(dead_code)] // used by the lead's `Durable` engine part
pub(crate) mod log;
