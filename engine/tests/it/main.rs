//! Integration tests of the engine with the built-in library.

mod hostile_input;
mod plugins;
mod vm;
