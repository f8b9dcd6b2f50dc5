//! Sprig's general-purpose functions: strings, lists, dictionaries, arithmetic, defaults and
//! type inspection.

use super::Func;

/// The function named `name`, if this part of the library has it.
pub(super) fn lookup(name: &str) -> Option<Func> {
    let _ = name;
    None
}
