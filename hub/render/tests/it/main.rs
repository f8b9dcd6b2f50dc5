//! Integration tests of the rendering core.
mod kustomize;
mod validate;
mod helm;
