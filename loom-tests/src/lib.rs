//! Loom models of multiverse: see `tests/` and the README. This library is
//! empty; the models are integration tests, built only under `cfg(loom)`.
