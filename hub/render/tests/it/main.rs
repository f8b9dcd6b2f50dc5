//! Integration tests of the rendering core.
mod kustomize;
mod validate;
mod delivery;
mod helm;
