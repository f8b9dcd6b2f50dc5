//! Rego input: typed actions and JSON documents turned into regorus values in one pass.
//!
//! [`to_value`] is a `serde::Serializer` whose output is the regorus [`Value`] itself, so an
//! [`Action`](crate::Action) (manifests and all) becomes Rego input without first being
//! copied into a `serde_json::Value` and then decoded again (1.75 to 1.9 times faster on the
//! benchmark action; `cargo bench -p gatehouse-engine --bench decide -- input`).
//!
//! [`object_views`] builds the per-object inputs of policies bound with `input: object` out of
//! an already converted action: every view shares the object's values, its pod spec and one
//! action header with the action itself instead of copying them.
//!
//! The conversion follows `serde_json`'s data model exactly (unit variants as strings, `None`
//! as `null`, newtype variants as one-key objects), so a policy sees the same input whether the
//! action arrived as JSON text or as a typed value; a test holds the two paths equal.

use std::collections::BTreeMap;
use std::fmt;

use regorus::Value;
use serde::Serialize;
use serde::ser::{self, Impossible};

/// A value that has no Rego counterpart (a non-finite number, a map key that is not a string).
#[derive(Debug)]
pub(crate) struct InputError(String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl ser::Error for InputError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Converts anything serializable into a regorus value, as `serde_json` would model it.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, InputError> {
    value.serialize(Converter)
}

/// The keys of the per-object view that come from the action rather than the object.
const HEADER_KEYS: [&str; 7] = ["version", "kind", "id", "time", "actor", "scope", "context"];

/// The per-object inputs for a converted action, one per entry of `subject.manifests`, in
/// order: the object's own fields, the action's scope fields it does not have, its pod spec
/// as `spec`, the whole object as `object` and the action's header as `action`.
pub(crate) fn object_views(action: &Value) -> Vec<Value> {
    let Some(Value::Array(manifests)) =
        field(action, "subject").and_then(|s| field(s, "manifests"))
    else {
        return Vec::new();
    };
    let mut header = BTreeMap::new();
    for key in HEADER_KEYS {
        if let Some(v) = field(action, key) {
            header.insert(Value::from(key), v.clone());
        }
    }
    let header = Value::from(header);
    let scope = match field(action, "scope") {
        Some(Value::Object(scope)) => Some(scope),
        _ => None,
    };
    let (spec_key, object_key, action_key) = (
        Value::from("spec"),
        Value::from("object"),
        Value::from("action"),
    );
    manifests
        .iter()
        .map(|object| {
            let mut view: BTreeMap<Value, Value> = match object {
                Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                other => BTreeMap::from([(Value::from("value"), other.clone())]),
            };
            for (k, v) in scope.iter().flat_map(|s| s.iter()) {
                view.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if let Some(spec) = pod_spec(object) {
                view.insert(spec_key.clone(), spec.clone());
            }
            view.insert(object_key.clone(), object.clone());
            view.insert(action_key.clone(), header.clone());
            Value::from(view)
        })
        .collect()
}

/// The pod spec of a pod-bearing object, as [`crate::pod_spec`] finds it in JSON.
fn pod_spec(object: &Value) -> Option<&Value> {
    let Some(Value::String(kind)) = field(object, "kind") else {
        return None;
    };
    crate::engine::pod_spec_path(kind)?
        .iter()
        .try_fold(object, |at, key| field(at, key))
}

/// `value.key` when `value` is an object that has `key`.
fn field<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(&Value::from(key)),
        _ => None,
    }
}

/// Wraps `value` as `{variant: value}`, serde's external tagging of enum variants.
fn tagged(variant: Option<&'static str>, value: Value) -> Value {
    match variant {
        Some(name) => Value::from(BTreeMap::from([(Value::from(name), value)])),
        None => value,
    }
}

fn number(v: f64) -> Result<Value, InputError> {
    if v.is_finite() {
        Ok(Value::from(v))
    } else {
        Err(InputError(format!("{v} is not a number Rego can hold")))
    }
}

/// The serializer producing regorus values.
struct Converter;

/// Arrays, tuples and tuple variants under construction.
struct Seq {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

/// Objects, structs and struct variants under construction.
struct Map {
    entries: BTreeMap<Value, Value>,
    pending_key: Option<Value>,
    variant: Option<&'static str>,
}

impl Seq {
    fn new(len: Option<usize>, variant: Option<&'static str>) -> Self {
        Self {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant,
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        let value = value.serialize(Converter)?;
        self.items.push(value);
        Ok(())
    }

    fn finish(self) -> Value {
        tagged(self.variant, Value::from(self.items))
    }
}

impl Map {
    fn new(variant: Option<&'static str>) -> Self {
        Self {
            entries: BTreeMap::new(),
            pending_key: None,
            variant,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), InputError> {
        let key = Value::from(key);
        let value = value.serialize(Converter)?;
        self.entries.insert(key, value);
        Ok(())
    }

    fn finish(self) -> Value {
        tagged(self.variant, Value::from(self.entries))
    }
}

impl ser::Serializer for Converter {
    type Ok = Value;
    type Error = InputError;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Map;

    fn serialize_bool(self, v: bool) -> Result<Value, InputError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, InputError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, InputError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, InputError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, InputError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, InputError> {
        Ok(Value::from(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, InputError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, InputError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, InputError> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, InputError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, InputError> {
        Ok(Value::from(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, InputError> {
        number(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, InputError> {
        number(v)
    }
    fn serialize_char(self, v: char) -> Result<Value, InputError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, InputError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, InputError> {
        Ok(Value::from(
            v.iter()
                .map(|b| Value::from(u64::from(*b)))
                .collect::<Vec<_>>(),
        ))
    }
    fn serialize_none(self) -> Result<Value, InputError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, InputError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, InputError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, InputError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, InputError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, InputError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, InputError> {
        Ok(tagged(Some(variant), value.serialize(Converter)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, InputError> {
        Ok(Seq::new(len, None))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, InputError> {
        Ok(Seq::new(Some(len), None))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq, InputError> {
        Ok(Seq::new(Some(len), None))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, InputError> {
        Ok(Seq::new(Some(len), Some(variant)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map, InputError> {
        Ok(Map::new(None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Map, InputError> {
        Ok(Map::new(None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Map, InputError> {
        Ok(Map::new(Some(variant)))
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = InputError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = InputError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = InputError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = InputError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeMap for Map {
    type Ok = Value;
    type Error = InputError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), InputError> {
        self.pending_key = Some(key.serialize(KeyConverter)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), InputError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| InputError("a map value came without its key".into()))?;
        let value = value.serialize(Converter)?;
        self.entries.insert(key, value);
        Ok(())
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for Map {
    type Ok = Value;
    type Error = InputError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), InputError> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for Map {
    type Ok = Value;
    type Error = InputError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), InputError> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, InputError> {
        Ok(self.finish())
    }
}

/// Map keys: strings, and the scalars `serde_json` writes as strings.
struct KeyConverter;

impl KeyConverter {
    fn text(self, key: &str) -> Result<Value, InputError> {
        Ok(Value::from(key))
    }
}

fn key_error() -> InputError {
    InputError("an object key must be a string".into())
}

impl ser::Serializer for KeyConverter {
    type Ok = Value;
    type Error = InputError;
    type SerializeSeq = Impossible<Value, InputError>;
    type SerializeTuple = Impossible<Value, InputError>;
    type SerializeTupleStruct = Impossible<Value, InputError>;
    type SerializeTupleVariant = Impossible<Value, InputError>;
    type SerializeMap = Impossible<Value, InputError>;
    type SerializeStruct = Impossible<Value, InputError>;
    type SerializeStructVariant = Impossible<Value, InputError>;

    fn serialize_str(self, v: &str) -> Result<Value, InputError> {
        self.text(v)
    }
    fn serialize_char(self, v: char) -> Result<Value, InputError> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<Value, InputError> {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<Value, InputError> {
        self.text(&v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, InputError> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, InputError> {
        value.serialize(self)
    }
    fn serialize_f32(self, _v: f32) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Value, InputError> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, InputError> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, InputError> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, InputError> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, InputError> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, InputError> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, InputError> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, InputError> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;
    use serde_json::{Value as Json, json};

    /// The reference path: JSON text read by regorus itself.
    fn via_json<T: Serialize>(value: &T) -> Value {
        Value::from_json_str(&serde_json::to_string(value).unwrap()).unwrap()
    }

    #[test]
    fn typed_actions_convert_exactly_as_their_json_does() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/actions");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(action) = Action::from_json(&text) else {
                continue; // fixtures of malformed actions
            };
            assert_eq!(
                to_value(&action).unwrap(),
                via_json(&action),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 4, "only {seen} fixture actions were compared");
    }

    #[test]
    fn json_scalars_and_nesting_convert_as_regorus_reads_them() {
        let doc = json!({
            "ints": [0, -1, 1, i64::MIN, u64::MAX],
            "floats": [0.5, -2.25, 1e300, 3.0],
            "text": ["", "ünïcødé", "line\nbreak", "\u{1F600}"],
            "nested": {"a": {"b": [null, true, false, {"c": []}]}, "empty": {}},
        });
        assert_eq!(to_value(&doc).unwrap(), via_json(&doc));
    }

    #[test]
    fn serde_shapes_follow_serde_json() {
        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(u8, &'static str),
            Struct { x: i32 },
        }
        #[derive(Serialize)]
        struct Holder {
            shapes: Vec<Shape>,
            numbered: BTreeMap<u32, bool>,
            missing: Option<String>,
            letter: char,
            pair: (u8, u8),
        }
        let holder = Holder {
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(1, "two"),
                Shape::Struct { x: -3 },
            ],
            numbered: BTreeMap::from([(1, true), (20, false)]),
            missing: None,
            letter: 'é',
            pair: (4, 5),
        };
        assert_eq!(to_value(&holder).unwrap(), via_json(&holder));
    }

    #[test]
    fn values_without_a_rego_counterpart_are_refused() {
        let err = to_value(&[1.0, f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
        let err = to_value(&BTreeMap::from([((1, 2), true)])).unwrap_err();
        assert!(err.to_string().contains("key must be a string"), "{err}");
    }

    #[test]
    fn object_views_carry_object_pod_spec_scope_and_header() {
        let action = json!({
            "version": 1, "kind": "render", "time": "2026-01-01T00:00:00Z",
            "actor": {"id": "u-a", "kind": "user"},
            "scope": {"org": "acme", "environment": "production", "kind": "shadowed"},
            "context": {"ticket": "T-1"},
            "facts": {"big": [1, 2, 3]},
            "subject": {"manifests": [
                {"kind": "Deployment", "metadata": {"name": "web"},
                 "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c"}]}}}},
                {"kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": []}},
                "not an object",
            ]},
        });
        let header = json!({
            "version": 1, "kind": "render", "time": "2026-01-01T00:00:00Z",
            "actor": {"id": "u-a", "kind": "user"},
            "scope": {"org": "acme", "environment": "production", "kind": "shadowed"},
            "context": {"ticket": "T-1"},
        });
        let manifests = action["subject"]["manifests"].as_array().unwrap().clone();
        let expected: Vec<Json> = vec![
            json!({
                "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "c"}]},
                "org": "acme", "environment": "production",
                "object": manifests[0], "action": header,
            }),
            json!({
                "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": []},
                "org": "acme", "environment": "production",
                "object": manifests[1], "action": header,
            }),
            json!({
                "value": "not an object",
                "org": "acme", "environment": "production", "kind": "shadowed",
                "object": "not an object", "action": header,
            }),
        ];
        let views = object_views(&to_value(&action).unwrap());
        let expected: Vec<Value> = expected.iter().map(via_json).collect();
        assert_eq!(views, expected);
    }
}
