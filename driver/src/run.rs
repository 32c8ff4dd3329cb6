//! Runs one cell.
