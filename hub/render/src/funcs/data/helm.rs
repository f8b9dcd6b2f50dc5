//! Helm's own additions that are plain functions: `required`, `fail` and `lookup` (which, as
//! in `helm template`, finds nothing and returns an empty map).

use super::super::Ctx;
use crate::value::{Map, Value};

/// `required MESSAGE VALUE`: VALUE, or an error with MESSAGE when VALUE is nil or "".
pub(super) fn required(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let message = args.first().map(Value::go_string).unwrap_or_default();
    match args.get(1) {
        None | Some(Value::Nil) => Err(message),
        Some(Value::Str(s)) if s.is_empty() => Err(message),
        Some(v) => Ok(v.clone()),
    }
}

/// `fail MESSAGE`: always an error with MESSAGE.
pub(super) fn fail(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Err(args.first().map(Value::go_string).unwrap_or_default())
}

/// `lookup APIVERSION KIND NAMESPACE NAME`: there is no cluster, so an empty map.
pub(super) fn lookup(_: &mut Ctx, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Map(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fail_and_lookup() {
        let mut ctx = Ctx::new([0; 32], 0);
        let msg = Value::str("x is required");
        assert_eq!(
            required(&mut ctx, &[msg.clone(), Value::str("y")])
                .unwrap()
                .go_string(),
            "y"
        );
        assert_eq!(
            required(&mut ctx, &[msg.clone(), Value::Int(0)])
                .unwrap()
                .go_string(),
            "0"
        );
        assert_eq!(
            required(&mut ctx, &[msg.clone(), Value::Nil]).unwrap_err(),
            "x is required"
        );
        assert_eq!(
            required(&mut ctx, &[msg.clone(), Value::str("")]).unwrap_err(),
            "x is required"
        );
        assert_eq!(fail(&mut ctx, &[Value::str("boom")]).unwrap_err(), "boom");
        let l = lookup(&mut ctx, &[Value::str("v1"), Value::str("Pod")]).unwrap();
        assert_eq!(l.type_name(), "map[string]interface {}");
        assert!(!l.truthy());
    }
}
