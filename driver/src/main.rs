//! The driver.

#[global_allocator]
static ALLOC: multiverse_driver::alloc::Counting = multiverse_driver::alloc::Counting;

fn main() {}
