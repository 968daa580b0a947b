//! The `genms` binary.
fn main() {}
