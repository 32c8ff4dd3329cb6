//! Durability (issue 12). Minimal module file of the `codec` branch: the
//! lead replaces it when merging.

pub(crate) mod codec;

pub use codec::{Codec, Codecs, DecodeError, Persist};
