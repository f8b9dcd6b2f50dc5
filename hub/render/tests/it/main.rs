//! Integration tests of the rendering core.
mod delivery;
mod helm;
mod kustomize;
mod validate;
