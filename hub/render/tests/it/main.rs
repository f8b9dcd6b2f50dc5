//! Integration tests of the rendering core.
