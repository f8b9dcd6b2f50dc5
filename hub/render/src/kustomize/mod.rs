//! Kustomize-style overlays.
